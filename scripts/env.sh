# Shared by the scripts: one persistent cargo target dir outside the clone, so
# the bundled DuckDB C++ (30-45 minutes on 2 cores) compiles once per machine,
# and one cargo profile (`fast`) for tests, demo and benchmarks.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/redshift-cdc/target}"
export CARGO_PROFILE=fast

# Builds every target of the workspace, as the tests do. Cargo unifies the
# features of shared dependencies over the packages a build selects, so
# `-p cdc-cli` and `--workspace` would give the bundled DuckDB two different
# build hashes (two 45-minute compiles); one selection everywhere keeps one.
build_everything() {
  cargo build --profile "$CARGO_PROFILE" --workspace --all-targets
}
