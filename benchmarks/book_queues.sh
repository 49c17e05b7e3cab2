#!/bin/bash
# A cold run of the whole book in two one-thread queues, in an order you choose (make reproduce orders
# longest first; this script lets a run that must end by a deadline put the long chapters first on one
# queue and the short ones first on the other). Every chapter executes in place with papermill in the
# cpu profile; both queues share one model cache.
#
#   benchmarks/book_queues.sh RUN_DIR CACHE_DIR "A-FIRST ..." "SHARED QUEUE ..."
#
# RUN_DIR: a checkout (e.g. `git worktree add --detach RUN_DIR HEAD`) whose notebooks/ and results/ the
# run rewrites; CACHE_DIR: the model cache (empty for a cold run). Queue A runs its A-FIRST chapters,
# then both queues take chapters from the shared queue in its order. Each start and end goes to
# RUN_DIR/_build/reproduce/queues.tsv (queue, chapter, start|end, epoch seconds, exit, wall), each
# chapter's log beside it; `python benchmarks/book_run_record.py RUN_DIR` turns them into the record.
set -u
run_dir=$(cd "$1" && pwd); cache=$2; first_a=$3; shared=$4
out=$run_dir/_build/reproduce
mkdir -p "$out" "$cache"
py=${PYTHON:-$run_dir/.venv/bin/python}
printf "%s\n" $shared > "$out/queue"
: > "$out/queues.tsv"

run() {  # run QUEUE CHAPTER
  local s e rc
  s=$(date +%s)
  printf "%s\t%s\tstart\t%s\n" "$1" "$2" "$s" >> "$out/queues.tsv"
  (cd "$run_dir/notebooks" && OMP_NUM_THREADS=1 KD_CACHE_DIR="$cache" KD_PROGRESS=0 PYTHONPATH="$run_dir" \
     "$py" -m papermill "$2.ipynb" "$2.ipynb" -p profile cpu --cwd "$run_dir/notebooks" > "$out/$2.log" 2>&1)
  rc=$?; e=$(date +%s)
  printf "%s\t%s\tend\t%s\t%s\t%s\n" "$1" "$2" "$e" "$rc" "$((e - s))" >> "$out/queues.tsv"
}

lane() {  # lane QUEUE [CHAPTER ...]: its own chapters, then the shared queue's (flock: one taker at a time)
  local q=$1 nb; shift
  for nb in "$@"; do run "$q" "$nb"; done
  while nb=$(flock "$out/queue.lock" bash -c 'n=$(head -1 "$0"); [ -n "$n" ] && sed -i 1d "$0"; echo "$n"' "$out/queue") \
        && [ -n "$nb" ]; do
    run "$q" "$nb"
  done
}

lane A $first_a &
lane B &
wait
echo "done: $out/queues.tsv"
