#!/bin/bash
PY=/work/main/.venv/bin/python
DATA=/tmp/bench12/data
for v in after12 before; do
  cd /work/$v
  echo "$(date +%T) loader $v round 3" >> /tmp/bench12/log
  PYTHONPATH=/work/$v VAEARR_PROGRESS=off $PY benchmarks/bench_loader.py --repeats 3 --data-dir $DATA --keep --out /tmp/bench12/loader_${v}_3.json > /tmp/bench12/loader_${v}_3.log 2>&1
  echo "$(date +%T) rc=$?" >> /tmp/bench12/log
done
for v in after12 before; do
  cd /work/$v
  echo "$(date +%T) ingest $v" >> /tmp/bench12/log
  PYTHONPATH=/work/$v VAEARR_PROGRESS=off $PY benchmarks/bench_ingest.py --sizes 1 --repeats 3 --data-dir $DATA --keep-data --out /tmp/bench12/ingest_$v.json > /tmp/bench12/ingest_$v.log 2>&1
  echo "$(date +%T) rc=$?" >> /tmp/bench12/log
done
echo done >> /tmp/bench12/log
