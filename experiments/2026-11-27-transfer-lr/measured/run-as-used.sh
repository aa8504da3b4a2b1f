#!/bin/bash
# run.sh NAME LR : set transfer.lr, run the study, save metrics
set -e
cd /tmp/lr
python3 - "$2" <<'PY'
import re,sys
p=open('params.yaml').read()
p=re.sub(r'(\ntransfer:\n(?:  .*\n)*?  lr: )[0-9.]+', lambda m: m.group(1)+sys.argv[1], p, count=1)
open('params.yaml','w').write(p)
PY
grep -A6 '^transfer:' params.yaml | grep ' lr:'
PYTHONPATH=/tmp/lr/src PATH=/work/main/.venv/bin:$PATH /usr/bin/time -v -o /tmp/lr/$1.time auforget --quiet main > /tmp/lr/$1.log 2>&1
mkdir -p /tmp/lr-out/$1 && cp metrics/*.json /tmp/lr-out/$1/ && cp /tmp/lr/$1.time /tmp/lr-out/$1/time.txt
