# The two commands of the README. Both create (or re-use) the environment first:
# VENV=/path/to/env points them at another virtual environment.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
SHAPES := data/shapes
SHAPES_CONFIG := configs/nanodet_shufflenetv2_lightpan_shapes.py
DEMO_DIR := work_dirs/shapes_demo

.PHONY: env test demo

env:
	@bash tools/setup_env.sh $(VENV)

test: env
	$(PYTHON) -m pytest tests --durations=15

# Train the NanoDet-style detector on a generated dataset, evaluate it, plot and draw.
demo: env $(SHAPES)/annotations/instances_val.json
	$(PYTHON) tools/train.py $(SHAPES_CONFIG) --work-dir $(DEMO_DIR)
	$(PYTHON) tools/test.py $(SHAPES_CONFIG) $$(cat $(DEMO_DIR)/last_checkpoint) \
		--work-dir $(DEMO_DIR) --classwise --show-dir vis
	$(PYTHON) tools/analysis_tools/plot_curves.py $(DEMO_DIR) --out $(DEMO_DIR)/curves.png
	$(PYTHON) tools/image_demo.py $(SHAPES)/val/000001.jpg $(SHAPES_CONFIG) \
		--weights $$(cat $(DEMO_DIR)/last_checkpoint) --out-file $(DEMO_DIR)/000001_pred.jpg

$(SHAPES)/annotations/instances_val.json: | env
	$(PYTHON) tools/misc/make_synthetic_coco.py $(SHAPES) --train 800 --val 100
