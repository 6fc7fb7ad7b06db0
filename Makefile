# The two commands of the README. Both create (or re-use) the environment first:
# VENV=/path/to/env points them at another virtual environment.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
SHAPES := data/shapes
SHAPES_CONFIG := configs/nanodet_shufflenetv2_lightpan_shapes.py
DEMO_DIR := work_dirs/shapes_demo

.PHONY: env test coverage demo

env:
	@bash tools/setup_env.sh $(VENV)

# One pytest-xdist worker per core; tests/conftest.py says how the work is shared out.
PYTEST_ARGS := tests -n auto --dist loadgroup --no-loadscope-reorder

test: env
	$(PYTHON) -m pytest $(PYTEST_ARGS) --durations=15

# Line coverage of shufflenet_det/ and tools/, the tools' own processes included
# (pyproject.toml, [tool.coverage.run]); not the timed test command.
coverage: env
	rm -rf work_dirs/coverage
	$(PYTHON) -m coverage run -m pytest $(PYTEST_ARGS) -q
	$(PYTHON) -m coverage combine -q
	$(PYTHON) -m coverage report

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
