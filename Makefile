# The README's commands. Each target goes through ./run, which installs what is missing first.
BENCH ?=

.PHONY: demo test bench lint compile analyse setup
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
analyse:
	./run analyse
setup:
	./run setup
