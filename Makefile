# One target per stage; `make help` lists them.
PYTHON ?= python3
RUNS ?= runs
MODEL ?= rubicall_s
SEED ?= 11

BUILD ?= build
CHUNK ?= 4200

.PHONY: help install test test-slow bench-train train-data train-shipped eval-shipped export lower clean

help:
	@echo "make install        install the flow and its test tools (pip, editable)"
	@echo "make test           the default test suite (what CI runs)"
	@echo "make test-slow      the long checks behind the 'slow' marker"
	@echo "make bench-train    training steps/s and basecalling samples/s on this machine"
	@echo "make train-data     simulate the training reads (random genome, never lambda) and cut chunks"
	@echo "make train-shipped  train models/$(MODEL).pt as shipped (resumes if interrupted)"
	@echo "make eval-shipped   accuracy of the shipped model on simulated lambda and real reads"
	@echo "make export lower   QONNX export and the integer dataflow graph of MODEL into build/MODEL/"
	@echo "make distill        distil the real-data teacher into STUDENT (teacher targets on real unlabelled reads)"

install:
	$(PYTHON) -m pip install -e ".[test]"

test:
	$(PYTHON) -m pytest -q

test-slow:
	$(PYTHON) -m pytest -q -m slow

bench-train:
	$(PYTHON) bench/bench_train.py

train-data: $(RUNS)/ds_train/chunks.npy

$(RUNS)/ds_train/chunks.npy:
	rubicon simulate --random-genome 2000000 -n 1500 --seed $(SEED) -o $(RUNS)/sim_train
	rubicon chunkify $(RUNS)/sim_train/truth.hdf5 -o $(RUNS)/ds_train

train-shipped: train-data
	rubicon train $(MODEL) $(RUNS)/ds_train -o $(RUNS)/$(MODEL) --epochs 4 --checkpoint-every 200 --log-every 50 --seed 1
	cp $(RUNS)/$(MODEL)/model.pt models/$(MODEL).pt

eval-shipped:
	$(PYTHON) bench/eval_shipped.py --model $(MODEL) --runs $(RUNS)

export:
	mkdir -p $(BUILD)/$(MODEL)
	rubicon export $(MODEL) -o $(BUILD)/$(MODEL)/model.onnx --chunk-len $(CHUNK)

lower: export
	rubicon lower $(BUILD)/$(MODEL)/model.onnx -o $(BUILD)/$(MODEL)/dataflow.onnx

clean:
	rm -rf $(RUNS) build .pytest_cache

# --- distillation (issue: real-signal accuracy) ---------------------------------------
STUDENT ?= sbonito_q8
TEACHER ?= teacher_sbonito
UNLABELLED ?= $(or $(RUBICON_DATA),../shared/data)/reads/unlabelled_r9.4.1/unlabelled_r9.4.1_dna.blow5

.PHONY: distill-data distill

distill-data: $(RUNS)/kd_real/chunks.npy $(RUNS)/kd_sim/chunks.npy

$(RUNS)/kd_real/chunks.npy:
	rubicon chunkify $(UNLABELLED) --teacher $(TEACHER) -o $(RUNS)/kd_real

$(RUNS)/sim_kd/truth.hdf5:
	rubicon simulate --random-genome 2000000 -n 400 --seed 12 -o $(RUNS)/sim_kd

$(RUNS)/kd_sim/chunks.npy: $(RUNS)/sim_kd/truth.hdf5
	rubicon chunkify $(RUNS)/sim_kd/truth.hdf5 --teacher $(TEACHER) -o $(RUNS)/kd_sim

distill: distill-data
	rubicon train $(STUDENT) $(RUNS)/kd_real $(RUNS)/kd_sim -o $(RUNS)/$(STUDENT) --init $(TEACHER) \
		--kd-alpha 0.9 --kd-temperature 2 --lr 5e-4 --warmup-steps 100 --epochs 2 --checkpoint-every 100 --log-every 25 --seed 1
	cp $(RUNS)/$(STUDENT)/model.pt models/$(STUDENT).pt
