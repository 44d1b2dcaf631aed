# The README's commands. Each target goes through ./run, which installs what is missing first.
BENCH ?=

.PHONY: demo test bench lint compile setup
demo:
	./run demo
test:
	./run test
bench:
	./run bench $(BENCH)
lint:
	./run lint
compile:
	./run compile
setup:
	./run setup
