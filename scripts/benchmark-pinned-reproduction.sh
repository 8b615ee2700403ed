#!/bin/bash
# Time a pinned reproduction of this checkout's finished run (README "Pinned reproductions").
#
# In throwaway clones under $PIN_BENCH_DIR (default /tmp/decoybench-pin-bench): copy this
# checkout's data/ and results/ into a clone, `snakemake pin` it to a local remote, commit and
# tag; then `git clone`, `dvc pull` and `snakemake --cores all` in a second clone, and compare
# its tables and PNGs with the pinned run's. Run after `snakemake --cores all` (default
# config; extra arguments, e.g. `--configfile X`, go to every snakemake call: a config file
# holding `pin: {remote: null, adversarial_sets: true}` times the pin of the adversarial sets).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$REPO/.venv/bin:$PATH" DVC_NO_ANALYTICS=1
D=${PIN_BENCH_DIR:-/tmp/decoybench-pin-bench}
rm -rf "$D" && mkdir -p "$D"
git clone -q "$REPO" "$D/origin" && cd "$D/origin"
cp -a "$REPO/data" "$REPO/results" . && rm -rf results/mlflow-spool
# The run was made with this code: date the sources before it, as in the original checkout
# (Snakemake re-runs a job whose outputs are older than its script).
git ls-files -z | xargs -0 touch -d '2000-01-01'
snakemake -n --cores all "$@" 2>&1 | grep -q "Nothing to be done" \
    || { echo "the run in $REPO is not finished (or not up to date)"; exit 1; }
/usr/bin/time -f "pin: %e s" snakemake pin --cores 1 "$@" > "$D/pin.out" 2>&1 \
    || { tail -30 "$D/pin.out"; exit 1; }
tail -1 "$D/pin.out"
git add -A && git -c user.name=bench -c user.email=bench@localhost commit -qm pin && git tag pinned
echo "pinned $(python -c "import json;print(len(json.load(open('pins.json'))['files']))") files, $(du -sh .dvc-storage | cut -f1) pushed"
git clone -q "$D/origin" "$D/clone" && cd "$D/clone" && git checkout -q pinned
dvc remote modify --local local url "$D/origin/.dvc-storage"
/usr/bin/time -f "dvc pull: %e s" dvc pull --quiet
snakemake -n --cores all "$@" > "$D/dry.out" 2>&1
grep "pinned run" "$D/dry.out" || true
awk '/^Job stats/ {shown = 1} shown {print} shown && /^total/ {exit}' "$D/dry.out"
/usr/bin/time -f "reproduction: %e s" snakemake --cores all "$@" > "$D/reproduce.out" 2>&1 \
    || { tail -30 "$D/reproduce.out"; exit 1; }
tail -1 "$D/reproduce.out"
for kind in tables/*.csv tables/*.md figures/*.png figures/*.pdf; do
    same=0 total=0
    for f in "$D"/origin/results/*/$kind; do
        total=$((total + 1))
        cmp -s "$f" "${f/origin/clone}" && same=$((same + 1))
    done
    echo "$kind: $same of $total byte-identical"
done
