#!/bin/bash
# ab.sh N W distA distB : alternating runs
N=$1; W=$2; A=${3:-/work/main/dist}; B=${4:-/work/main/bench/.prof/dist-k}
for i in $(seq $N); do
  echo "A $(DIST=$A/index.js node /work/main/bench/.prof/w1.mjs $W ${R:-10} | awk '{print $3}')  B $(DIST=$B/index.js node /work/main/bench/.prof/w1.mjs $W ${R:-10} | awk '{print $3}')"
done
