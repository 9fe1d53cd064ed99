#!/usr/bin/env bash
# Multi-process training with torchrun:  bash tools/dist_train.sh CONFIG NGPUS [train.py args]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR, PORT. On CPU-only machines the
# processes use the gloo backend (NGPUS is then the number of processes).
CONFIG=$1
NGPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}

PYTHONPATH="$(dirname "$0")/..":${PYTHONPATH:-} \
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NGPUS" --master_port="$PORT" \
    "$(dirname "$0")/train.py" "$CONFIG" --launcher pytorch "${@:3}"
