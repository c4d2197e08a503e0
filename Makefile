# Deployable builds and benchmarks: slow, so never part of the test command
# (README.md's two commands are scripts/demo and scripts/test).
.PHONY: demo test lambdas sam-build bench-merge bench-lambda

demo:
	scripts/demo

test:
	scripts/test

# cargo lambda build --release --arm64, one function package at a time; prints each zip's size.
lambdas:
	scripts/build-lambdas

# sam build (through cargo-lambda), ready for sam deploy --guided.
sam-build:
	scripts/sam-build

bench-merge:
	scripts/bench merge

# Cold start (init time, peak RSS) of each function against the seed's Python function.
bench-lambda:
	scripts/bench-lambda
