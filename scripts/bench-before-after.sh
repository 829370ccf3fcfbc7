#!/usr/bin/env bash
# Ingest and send benchmarks of two builds in one sitting, alternating (issue 15: before = dff0b67 + mimalloc, after = HEAD).
# BEFORE=/work/before/target/release/switchboard-bench [AFTER=…] [OUT=dir] scripts/bench-before-after.sh
set -u
OUT=$(realpath -m "${OUT:-target/bench/before-after}")
mkdir -p "$OUT"
PG=postgres://postgres@127.0.0.1:5432/postgres
psql -h 127.0.0.1 -U postgres -qc "ALTER SYSTEM SET autovacuum = on" postgres; psql -h 127.0.0.1 -U postgres -qc "SELECT pg_reload_conf()" postgres
B=$(realpath "${BEFORE:?BEFORE=path to the older switchboard-bench}")
A=$(realpath "${AFTER:-target/release/switchboard-bench}")
for step in "ingest sqlite" "ingest pg" "send sqlite" "send pg"; do
  set -- $step
  for who in before after; do
    bin=$B; [ $who = after ] && bin=$A
    db=(); [ $2 = pg ] && db=(--database-url $PG)
    if [ $1 = ingest ]; then
      args=(ingest --concurrency 32,128 --seconds 8 --no-ceiling --paced-seconds 10)
    else
      args=(send --queued)
    fi
    echo "== $(date -u +%H:%M:%S) $who $1 $2"
    (cd $OUT && $bin "${args[@]}" "${db[@]}" --json $OUT/$1-$2-$who.json > $OUT/$1-$2-$who.txt 2>&1); echo "rc=$?"
    psql -h 127.0.0.1 -U postgres -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'bench%' OR datname LIKE 'sb_%'" postgres | while read -r d; do psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS \"$d\"" postgres; done
  done
done
psql -h 127.0.0.1 -U postgres -qc "ALTER SYSTEM RESET autovacuum" postgres; psql -h 127.0.0.1 -U postgres -qc "SELECT pg_reload_conf()" postgres
echo "== done $(date -u +%H:%M:%S)"
