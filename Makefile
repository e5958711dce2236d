# The two commands of the README, and the steps they are made of.
BUILD := build
ASAN := build-asan
PYTHON := /usr/bin/python3

.PHONY: all setup build asan run check unit api clean bench

all: build

setup:
	./scripts/setup

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=debugoptimized

$(ASAN)/build.ninja:
	meson setup $(ASAN) --buildtype=debug -Doptimization=1 -Db_sanitize=address,undefined -Db_lundef=false

build: setup $(BUILD)/build.ninja
	ninja -C $(BUILD)

asan: setup $(ASAN)/build.ninja
	ninja -C $(ASAN)

run: build
	$(BUILD)/pasarela serve --demo

unit: build asan
	meson test -C $(BUILD) --print-errorlogs
	meson test -C $(ASAN) --print-errorlogs

api: build asan
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/sim
	PASARELA_BIN=$(BUILD)/pasarela $(PYTHON) -m pytest -q -p no:cacheprovider tests/api
	PASARELA_BIN=$(ASAN)/pasarela $(PYTHON) -m pytest -q -p no:cacheprovider tests/api

check: unit api

bench: build
	./bench/run

clean:
	rm -rf $(BUILD) $(ASAN)
