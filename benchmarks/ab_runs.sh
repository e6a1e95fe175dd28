#!/bin/bash
# ab_runs.sh CODE_DIR OUT_DIR: the four run kinds of issue 37's A/B (the paper's decoder, lowrank --compile --autotune,
# the [256,256] baseline, FetchReach GHP), short, from the code in CODE_DIR (a checkout, e.g. `git worktree add`), then
#   python benchmarks/ab_compare.py BEFORE_OUT AFTER_OUT     # every checkpoint tensor and log line, before vs after
code=$1 out=$2; mkdir -p $out; cd $code
common="--env-id Hopper-v4 --seed 3 --meta-batch 4 --total-timesteps 1600 --learning-starts 800 --eval-every 800 --eval-episodes 1 --save-every 800 --log-every 400 --threads 1 --no-cuda"
python ghp_sac.py $common --ghn-decoder full --runs-dir $out/full > $out/full.log 2>&1
python ghp_sac.py $common --ghn-decoder lowrank --compile --autotune --runs-dir $out/lowrank_compile > $out/lowrank_compile.log 2>&1
python ghp_sac.py $common --baseline-arch 256,256 --runs-dir $out/baseline > $out/baseline.log 2>&1
python ghp_ddpg_her.py --env-id FetchReach-v4 --seed 3 --epochs 2 --cycles-per-epoch 4 --eval-archs 4 --threads 1 --no-cuda --runs-dir $out/reach > $out/reach.log 2>&1
echo done > $out/DONE
