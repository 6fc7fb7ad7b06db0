# The two commands of the README. Both create (or re-use) the environment first:
# VENV=/path/to/env points them at another virtual environment.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
DEMO_DIR := work_dirs/demo

.PHONY: env test demo

env:
	@bash tools/setup_env.sh $(VENV)

test: env
	$(PYTHON) -m pytest tests

demo: env
	$(PYTHON) tools/misc/make_demo_image.py $(DEMO_DIR)/shapes.jpg
	$(PYTHON) tools/image_demo.py $(DEMO_DIR)/shapes.jpg configs/fcos_shufflenetv2_coco.py \
		--out-file $(DEMO_DIR)/shapes_pred.jpg
