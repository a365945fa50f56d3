#!/usr/bin/env bash
# layering_test.sh - the source tree keeps its layers: each module includes only the ones
# below it, in the order of the data path (README "Code layout"):
#   util < manifest < store < apply < transfer (the protocol) < mirror (the pipeline) < cli
# In particular the protocol layer speaks the wire and orchestrates nothing (src/transfer
# never includes src/mirror), and the CLI runs no mirror of its own: of src/mirror it
# includes only the entry points (run.h) and what a run reports (run_observer.h).
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

LAYERS=(util manifest store apply transfer mirror cli)

# includes DIR: "file: included/header" for every project include in src/DIR.
includes() {
    grep -rHoE '#include "[a-z_]+/[a-z_0-9.]+"' "$REPO/src/$1" | sed -E "s|^$REPO/src/||; s|#include \"(.*)\"|\\1|"
}

for ((i = 0; i < ${#LAYERS[@]}; i++)); do
    layer=${LAYERS[i]}
    above=("${LAYERS[@]:i+1}")
    ((${#above[@]})) || continue
    pattern=$(IFS='|'; echo "${above[*]}")
    bad=$(includes "$layer" | grep -E ":($pattern)/" || true)
    assert_eq "" "$bad" "src/$layer includes nothing from the layers above it (${above[*]})"
done

bad=$(includes cli | grep -E ':mirror/' | grep -vE ':mirror/(run|run_observer)\.h$' || true)
assert_eq "" "$bad" "src/cli uses only the pipeline's entry points, and runs no mirror of its own"
