# Shared by the scripts: one persistent cargo target dir outside the clone, so
# the bundled DuckDB C++ (25-30 minutes on 2 cores) compiles once per machine,
# and one cargo profile (`fast`) for tests, demo and benchmarks.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/redshift-cdc/target}"
export CARGO_PROFILE=fast
