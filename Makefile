# One target per stage; `make help` lists them.
PYTHON ?= python3
RUNS ?= runs
MODEL ?= rubicall_s
SEED ?= 11

.PHONY: help install test test-slow bench-train train-data train-shipped eval-shipped clean

help:
	@echo "make install        install the flow and its test tools (pip, editable)"
	@echo "make test           the default test suite (what CI runs)"
	@echo "make test-slow      the long checks behind the 'slow' marker"
	@echo "make bench-train    training steps/s and basecalling samples/s on this machine"
	@echo "make train-data     simulate the training reads (random genome, never lambda) and cut chunks"
	@echo "make train-shipped  train models/$(MODEL).pt as shipped (resumes if interrupted)"
	@echo "make eval-shipped   accuracy of the shipped model on simulated lambda and real reads"

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

clean:
	rm -rf $(RUNS) build .pytest_cache
