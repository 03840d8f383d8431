# One target per stage; `make help` lists them.
PYTHON ?= python3
RUNS ?= runs
MODEL ?= rubicall_pynq
SIM_MODEL ?= rubicall_s
TARGET ?= pynq-z2
SEED ?= 11

BUILD ?= build
CHUNK ?= 4200

.PHONY: help install system-tools test test-slow bench-train train-data train-shipped eval-shipped export lower build calibrate rtlsim synth characterise reports clean

help:
	@echo "make install        install the flow and its test tools (pip, editable; g++, verilator, yosys via apt if missing)"
	@echo "make test           the default test suite (what CI runs)"
	@echo "make test-slow      the long checks behind the 'slow' marker"
	@echo "make bench-train    training steps/s and basecalling samples/s on this machine"
	@echo "make train-data     simulate the training reads (random genome, never lambda) and cut chunks"
	@echo "make train-shipped  train models/$(SIM_MODEL).pt on simulated reads, as shipped (resumes if interrupted)"
	@echo "make eval-shipped   float and exact (integer graph) accuracy of the board models on simulated lambda and real reads"
	@echo "make export lower   QONNX export and the integer dataflow graph of MODEL into build/MODEL/"
	@echo "make qabas          QABAS experiment: searched models vs the hand-designed layout on pynq-z2 (bench/qabas_experiment.py)"
	@echo "make skipclip       SkipClip experiment: the teacher's skips removed by distillation (bench/skipclip_experiment.py)"
	@echo "make distill        the shipped board model: STUDENT on simulated reads (distill-baseline), then distilled from the real-data teacher"
	@echo "make build          verified accelerator for MODEL on TARGET (default rubicall_pynq on pynq-z2) in build/TARGET/MODEL"
	@echo "make calibrate      make build, then store its measured/estimated factors for TARGET (folding and search read them)"
	@echo "make rtlsim         Verilator co-simulation of build/TARGET/MODEL as RTL twins (bit-exact check, RTL cycles)"
	@echo "make synth          Yosys synth_xilinx of every node of build/TARGET/MODEL (measured LUT/FF/BRAM/DSP)"
	@echo "make characterise   Yosys over the folding grid: resource factors per op and style, error on held-out points"
	@echo "make reports        rebuild the committed reference reports in reports/<target>/<model>/"
	@echo "make ablation       dynamic pooling vs a strided conv at equal MACs, strong / no speed variation (reports/ablation)"

install: system-tools
	$(PYTHON) -m pip install -e ".[test]"

# C-simulation needs g++; the dynamic-pooling RTL twin needs Verilator, and Yosys for its resource counts.
system-tools:
	@command -v g++ >/dev/null && command -v verilator >/dev/null && command -v yosys >/dev/null || \
		(apt-get update -qq && apt-get install -y -qq g++ verilator yosys >/dev/null)

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
	rubicon train $(SIM_MODEL) $(RUNS)/ds_train -o $(RUNS)/$(SIM_MODEL) --epochs 4 --checkpoint-every 200 --log-every 50 --seed 1
	cp $(RUNS)/$(SIM_MODEL)/model.pt models/$(SIM_MODEL).pt

# Every board model, float32 Brevitas and the exact integer dataflow graph the accelerator computes.
EVAL_MODELS ?= rubicall_pynq heron_dp rubicall_s
eval-shipped:
	$(PYTHON) bench/eval_shipped.py --model $(EVAL_MODELS) --runs $(RUNS)

export:
	mkdir -p $(BUILD)/$(MODEL)
	rubicon export $(MODEL) -o $(BUILD)/$(MODEL)/model.onnx --chunk-len $(CHUNK)

lower: export
	rubicon lower $(BUILD)/$(MODEL)/model.onnx -o $(BUILD)/$(MODEL)/dataflow.onnx

build:
	rubicon build --model $(MODEL) --target $(TARGET) -o $(BUILD)/$(TARGET)/$(MODEL)

# Build and store the measured/estimated factors as targets/$(TARGET).calibration.yaml.
calibrate:
	rubicon build --model $(MODEL) --target $(TARGET) -o $(BUILD)/$(TARGET)/$(MODEL) --update-calibration

# Measured, not estimated: the build as RTL twins (hls/rtl/) under Verilator, and Yosys per node.
# PYNQ-Z2 rubicall_pynq on 2 cores: rtlsim about 2 minutes, synth about 10 (cached per node afterwards).
rtlsim:
	rubicon rtlsim $(BUILD)/$(TARGET)/$(MODEL)

synth:
	rubicon synth $(BUILD)/$(TARGET)/$(MODEL)

# About 160 one-node designs synthesised for TARGET (15-30 min on 2 cores, cached in build/characterise/);
# reports/calibration/TARGET/; add WRITE=--write to store the factors in targets/TARGET.calibration.yaml.
characterise:
	$(PYTHON) -m flow.sim.characterise --target $(TARGET) --jobs 2 $(WRITE)

# Reference reports of the shipped models: the board model on PYNQ-Z2, and both models'
# AI Engine cost figures on VCK190; rubicall_s needs more LUTs than PYNQ-Z2 or ZCU104 have, so it builds for U250.
# The board model's report also carries its RTL co-simulation and Yosys counts (synth exits 1 only if nodes were skipped).
REPORTS = pynq-z2/rubicall_pynq u250/rubicall_s vck190/rubicall_pynq vck190/rubicall_s
reports:
	for r in $(REPORTS); do \
		rubicon build --model $${r#*/} --target $${r%/*} -o $(BUILD)/$$r && \
		rubicon report $(BUILD)/$$r --out reports/$$r || exit 1; done
	rubicon rtlsim $(BUILD)/pynq-z2/rubicall_pynq && rubicon synth $(BUILD)/pynq-z2/rubicall_pynq; \
		rubicon report $(BUILD)/pynq-z2/rubicall_pynq --out reports/pynq-z2/rubicall_pynq

clean:
	rm -rf $(RUNS) build .pytest_cache

# --- distillation (issue: real-signal accuracy) ---------------------------------------
# The shipped board model, in two steps from the simulated-data model's matching tensors:
# `distill-baseline` trains STUDENT on simulated reads (CTC, 2 epochs); `distill` continues
# from it with sequence-level distillation: CTC on the teacher's calls for 4,973 chunks of
# unlabelled real reads and on the true labels of 5,499 simulated chunks (3 epochs). Its
# result is models/$(STUDENT).pt. Per-frame KD (--kd-alpha > 0) made this 4-bit student worse
# (README: "Distillation"), so the KD weight is 0 here.
STUDENT ?= rubicall_pynq
TEACHER ?= teacher_sbonito
UNLABELLED ?= $(or $(RUBICON_DATA),../shared/data)/reads/unlabelled_r9.4.1/unlabelled_r9.4.1_dna.blow5
STUDENT_INIT ?= models/$(SIM_MODEL).pt

.PHONY: distill-data distill distill-baseline

distill-data: $(RUNS)/kd_real/chunks.npy $(RUNS)/kd_sim/chunks.npy

$(RUNS)/kd_real/chunks.npy:
	rubicon chunkify $(UNLABELLED) --teacher $(TEACHER) -o $(RUNS)/kd_real

$(RUNS)/sim_kd/truth.hdf5:
	rubicon simulate --random-genome 2000000 -n 400 --seed 12 -o $(RUNS)/sim_kd

$(RUNS)/kd_sim/chunks.npy: $(RUNS)/sim_kd/truth.hdf5
	rubicon chunkify $(RUNS)/sim_kd/truth.hdf5 --teacher $(TEACHER) -o $(RUNS)/kd_sim

distill-baseline: train-data
	rubicon train $(STUDENT) $(RUNS)/ds_train -o $(RUNS)/$(STUDENT)_sim --init $(STUDENT_INIT) \
		--lr 1e-3 --warmup-steps 100 --epochs 2 --checkpoint-every 100 --log-every 25 --seed 1

distill: distill-data distill-baseline
	rubicon train $(STUDENT) $(RUNS)/kd_real $(RUNS)/kd_sim -o $(RUNS)/$(STUDENT)_kd --init $(RUNS)/$(STUDENT)_sim/model.pt \
		--kd-alpha 0 --lr 5e-4 --warmup-steps 50 --epochs 3 --checkpoint-every 100 --log-every 25 --seed 4
	cp $(RUNS)/$(STUDENT)_kd/model.pt models/$(STUDENT).pt

# --- QABAS (issue: the search that designs the model for the board) ------------------------
# Searches at MinION real time and 4x on pynq-z2 (every resource <= 85%), trains the derived models and
# the hand-designed rubicall_pynq layout with one recipe, builds and evaluates them (reports/qabas).
# About 5-6 hours on 2 cores; every stage resumes.
.PHONY: qabas
# QABAS_ARGS: e.g. "--search-steps 400 --threads 1" (the size the shipped report was run at, reports/qabas)
QABAS_ARGS ?=
qabas: distill-data
	$(PYTHON) bench/qabas_experiment.py --runs $(RUNS) --datasets $(RUNS)/kd_real $(RUNS)/kd_sim $(QABAS_ARGS)

# --- SkipClip (issue: remove the teacher's skips) ------------------------------------------
# (a) teacher, (b) the SkipClip student, (c) its layout from scratch, (d) its layout with the skips
# kept, all on the distillation data with one recipe; accuracy on the real labelled reads and held-out
# simulated reads; (b) and (d) built for $(SKIPCLIP_TARGET) at one throughput target. Resumable.
SKIPCLIP_TARGET ?= u250
.PHONY: skipclip
skipclip: distill-data
	$(PYTHON) bench/skipclip_experiment.py --runs $(RUNS) --target $(SKIPCLIP_TARGET)

# Dynamic-pooling ablation (issue: dynamic pooling end to end): heron_dp vs heron_strided, 2 seeds,
# strong and no read-speed variation, 2,000 steps each; resumable. About 2 hours on 2 cores.
.PHONY: ablation
ablation:
	$(PYTHON) bench/ablation_dynamic_pool.py --runs $(RUNS)/ablation
