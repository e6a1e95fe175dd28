#!/bin/bash
# Every run behind docs/results.md, with the flags used there (the runs were started by hand in this
# order, two to five at a time on a 2-core machine; here they run two at a time, about 4 h in all).
# CPU only, one torch thread per job. Outputs go to $RESULTS; the plots and reports to docs/results/.
#   bash docs/results/run_all.sh            # from the repository root
# Versions: the GHP rows of docs/results.md ran at commit 3dec6e4; the baseline and "trained from
# scratch" rows (every --baseline-arch run) at 5a0bfbc, with the authors' baseline optimizer that is
# the default since issue 11 (the first baseline rows used --baseline-lr 1e-3 --baseline-weight-decay 1e-5,
# the GHN's settings). Since 1f48e6e the GHN's weight decay on its decoder heads is 64x weaker, so the
# GHP commands below now give other numbers than the page shows. Since issue 12 the SAC replay buffer
# samples with torch (other minibatches for the same seed), and since issue 13 evaluate.py takes
# subcommands: the evaluations ran as `evaluate.py --checkpoint ...` and `evaluate.py --merge A B`, written
# here as `evaluate.py run --checkpoint ...` and `evaluate.py merge --csvs A B`.
# Since issue 14 ghp_ddpg_her.py draws a new meta-batch every 4 updates by default; the runs made with the
# classic schedule (the default before) say --steps-per-arch 0 here. Since issue 14 the GHN's codes end in a
# leaky ReLU (--ghn-code-slope 0.1, after the HalfCheetah collapse). Every GHP run before the second HalfCheetah
# run had a plain ReLU, i.e. --ghn-code-slope 0: the 300k locomotion runs below say so; for the others (100k
# Hopper, FetchReach, FetchPush) add it to reproduce their numbers.
# Since issue 23 ghp_ddpg_her.py collects the authors' 8 rollouts per cycle by default; every Fetch run above the
# issue 23 part ran with 1, and its command says --rollouts-per-cycle 1.
#   bash docs/results/run_all.sh --dry-run  # prints every command in order, checking that each run folder it reads
#                                           # was made by an earlier one (nothing runs; the folders are made empty)
# Reruns (a teacher or GHN retrained because its checkpoint went with a machine) reuse their first run's command and
# folder prefix: ckpt() returns the NEWEST folder of a prefix, so in this order every command reads the run made last
# (the rerun, once it exists), and LOG=<name> keeps each rerun's log apart under the name it is committed with.
set -e
RESULTS=${RESULTS:-runs/results}
if [ "$1" = "--dry-run" ]; then
  RESULTS=$(mktemp -d)  # empty stand-ins of every folder the commands make, in order
  exec 3>&1  # what the dry run prints goes here, past the commands' redirections into logs
  cd "$RESULTS" && mkdir -p docs/results  # redirections into docs/results/*.md land in the stand-in, not the repository
  made() { for path in "$@"; do mkdir -p "$path"; done; }
  need() { [ -e "$1" ] || { echo "dry-run: $1 does not exist yet (line $2)" >&3; exit 1; }; }
  python() {  # prints the command; makes the folders it would make; checks the folders it reads
    echo "python $*" >&3
    local script=$1 env=Hopper-v4 exp="" seed=1 runs=runs out="" arch=ARCH
    [ "$script" = ghp_ddpg_her.py ] && env=FetchReach-v4
    while [ $# -gt 0 ]; do
      case $1 in
        --env-id) env=$2;; --exp-name) exp=$2;; --seed) seed=$2;; --runs-dir) runs=$2;; --out-dir) out=$2;; --arch) arch=${2//,/-};;
        --resume|--checkpoint|--teacher) need "$(dirname "$2")" "${BASH_LINENO[0]}"; [ "$1" = --teacher ] && env=$(basename "$(dirname "$2")" | cut -d_ -f1);;
        --csvs|--runs) while [ $# -gt 1 ] && [ "${2#--}" = "$2" ]; do need "$2" "${BASH_LINENO[0]}"; shift; done;;
        --checkpoints) while [ $# -gt 1 ] && [ "${2#--}" = "$2" ]; do need "$(dirname "$2")" "${BASH_LINENO[0]}"; shift; done;;
      esac
      shift
    done
    case $script in
      ghp_sac.py|ghp_ddpg_her.py) run="$runs/${env}__${exp:-${script%.py}}__${seed}__$(date +%s%N)"; made "$run"; touch "$run/checkpoint.pt";;
      bc_distill.py|bc_distill_her.py) run="$runs/${env}__${exp:-bc}_${arch}__${seed}__$(date +%s%N)"; made "$run"; touch "$run/checkpoint.pt";;
      evaluate.py|docs/int8_variants.py) [ -n "$out" ] && made "$out" && touch "$out/results.csv" "$out/results-shard0of2.csv" "$out/results-shard1of2.csv";;
    esac
    return 0
  }
  git() { echo "git $*" >&3; [ "$1 $2" = "worktree add" ] && made "$3"; return 0; }
fi
mkdir -p $RESULTS/logs
ckpt() {  # the newest run folder <prefix>__<time> (a rerun's, once there is one)
  ls -d $1__* 2>/dev/null | tail -n 1 | grep . || { echo "no run folder $1__* yet (line ${BASH_LINENO[0]})" >&2; return 1; }
}
evaluate_checkpoint() {  # evaluate_checkpoint CHECKPOINT NAME [FLAGS...]: evaluate.py run into $RESULTS/eval300k/NAME
  local checkpoint=$1 name=$2; shift 2
  python evaluate.py run --checkpoint $checkpoint --threads 1 "$@" --out-dir $RESULTS/eval300k/$name > $RESULTS/logs/eval300k_$name.log 2>&1
}
evaluate_shards() {  # evaluate_shards CHECKPOINT ARCHS OUT_DIR LOG [EPISODES]: ARCHS x EPISODES (5) as two shards side by side
  # (logs LOG_0.log, LOG_1.log), joined by evaluate.py merge: the same rows as one run, as each arch's episodes have fixed seeds
  for shard in 0 1; do
    python evaluate.py run --checkpoint $1 --archs $2 --episodes ${5:-5} --threads 1 --out-dir $3 --shard $shard/2 > ${4}_$shard.log 2>&1 &
  done
  wait
  python evaluate.py merge --csvs $3/results-shard0of2.csv $3/results-shard1of2.csv --out-dir $3
}
evaluate_fresh() {  # evaluate_fresh RUN_FOLDER NAME [FLAGS...]: its checkpoint.pt on 20 fresh episodes (seeds 1000..1019)
  evaluate_checkpoint $1/checkpoint.pt $2 --episodes 20 --seed 1000 "${@:3}"
}

# Hopper-v4, SAC, 100k env steps, seeds 1 and 2: GHP (lowrank decoder) and the [256,256] baseline
hopper() {  # hopper SEED ghp|baseline
  if [ "$2" = ghp ]; then policy="--ghn-decoder lowrank --exp-name ghp_lowrank"; else policy="--baseline-arch 256,256 --exp-name baseline"; fi
  python ghp_sac.py --env-id Hopper-v4 --seed $1 --total-timesteps 100000 --eval-every 5000 --eval-episodes 3 \
    --save-every 25000 --threads 1 --no-cuda --runs-dir $RESULTS/hopper $policy > $RESULTS/logs/hopper_$2_s$1.log 2>&1
}
# FetchReach-v4, DDPG + HER, 5 epochs = 100k env steps, seed 1
fetchreach() {  # fetchreach NAME FLAGS...
  name=$1; shift
  python ghp_ddpg_her.py --rollouts-per-cycle 1 --env-id FetchReach-v4 --seed 1 --epochs 5 --eval-archs 20 --threads 1 --no-cuda --steps-per-arch 0 \
    --runs-dir $RESULTS/fetchreach --exp-name $name "$@" > $RESULTS/logs/fetch_$name.log 2>&1
}
(hopper 1 ghp; hopper 1 baseline) &
(hopper 2 ghp; hopper 2 baseline) &
wait
(fetchreach ghp_lowrank --ghn-decoder lowrank; fetchreach baseline --baseline-arch 256,256) &
fetchreach ghp_lowrank_depth --ghn-decoder lowrank --arch-sampling depth &
wait

# The paper's full decoder, Hopper, 30k env steps, seed 1
python ghp_sac.py --env-id Hopper-v4 --seed 1 --total-timesteps 30000 --eval-every 5000 --eval-episodes 3 \
  --save-every 10000 --ghn-decoder full --threads 1 --no-cuda --runs-dir $RESULTS/hopper_full --exp-name ghp_full \
  > $RESULTS/logs/hopper_full_s1.log 2>&1 &
# Evaluations. random:4680 is all 4680 archs (random:N picks a seeded N of them, in the space's order);
# 5 episodes (seeds 0..4) per arch
evaluate_shards $(ckpt $RESULTS/hopper/Hopper-v4__ghp_lowrank__1)/checkpoint.pt random:4680 $RESULTS/hopper_eval $RESULTS/logs/hopper_eval
python evaluate.py run --checkpoint $(ckpt $RESULTS/fetchreach/FetchReach-v4__ghp_lowrank__1)/checkpoint.pt --archs random:4680 \
  --episodes 5 --threads 1 --out-dir $RESULTS/reach_eval > $RESULTS/logs/reach_eval.log 2>&1 &
# the depth-sampling checkpoint: a random 1000, and every arch with 1-3 hidden layers
SHALLOW=$(python -c "import archspace; print(';'.join(','.join(map(str, a)) for a in archspace.all_archs() if len(a) < 4))")
(python evaluate.py run --checkpoint $(ckpt $RESULTS/fetchreach/FetchReach-v4__ghp_lowrank_depth__1)/checkpoint.pt \
   --archs random:1000 --episodes 5 --threads 1 --out-dir $RESULTS/reach_depth_eval > $RESULTS/logs/reach_depth_eval.log 2>&1
 python evaluate.py run --checkpoint $(ckpt $RESULTS/fetchreach/FetchReach-v4__ghp_lowrank_depth__1)/checkpoint.pt \
   --archs "$SHALLOW" --episodes 5 --threads 1 --out-dir $RESULTS/reach_depth_shallow > $RESULTS/logs/reach_depth_shallow_eval.log 2>&1) &
wait
# Hopper: seed 1's picks (and the paper's Hopper archs) on 20 fresh episodes; seed 2 on a random 1000
python evaluate.py run --checkpoint $(ckpt $RESULTS/hopper/Hopper-v4__ghp_lowrank__1)/checkpoint.pt \
  --archs "256,256,8,256;512,16,4,32;4,8,8,32;256,256;8,4,4,4;32,512,4,32" --episodes 20 --seed 1000 --threads 1 \
  --out-dir $RESULTS/hopper_eval_picks > $RESULTS/logs/hopper_eval_picks.log 2>&1 &
python evaluate.py run --checkpoint $(ckpt $RESULTS/hopper/Hopper-v4__ghp_lowrank__2)/checkpoint.pt --archs random:1000 \
  --episodes 5 --threads 1 --out-dir $RESULTS/hopper_eval_s2 > $RESULTS/logs/hopper_eval_s2.log 2>&1 &
wait
# Table I's "off-policy RL" column: seed 1's 90% and 80% archs trained from scratch as fixed SAC actors
for arch in 512,16,4,32 4,8,8,32; do
  python ghp_sac.py --env-id Hopper-v4 --seed 1 --total-timesteps 100000 --eval-every 5000 --eval-episodes 3 \
    --save-every 25000 --baseline-arch $arch --threads 1 --no-cuda --runs-dir $RESULTS/hopper_small \
    --exp-name scratch_${arch//,/-} > $RESULTS/logs/hopper_scratch_${arch//,/-}_s1.log 2>&1 &
done
wait

# The final baselines on 20 fresh episodes (seeds 1000..1019)
python docs/eval_baseline.py --checkpoints $RESULTS/hopper/Hopper-v4__baseline__*/checkpoint.pt --episodes 20 --seed 1000

# Plots and their tables
D=docs/results
python docs/plot_curves.py --runs $RESULTS/hopper/Hopper-v4__* --tags eval/return_ --out $D/hopper_curves.png \
  --title "Hopper-v4, SAC, 100k env steps (mean of seeds 1 and 2, min..max shaded)" > $D/hopper_curves.md
python docs/plot_curves.py --runs $RESULTS/fetchreach/FetchReach-v4__* --tags charts/test_success_rate --ylabel "success rate" \
  --out $D/fetchreach_curves.png --title "FetchReach-v4, DDPG + HER, seed 1: success of random archs (GHP) / of the baseline" \
  > $D/fetchreach_curves.md
python docs/plot_curves.py --runs $RESULTS/hopper_full/Hopper-v4__* $(ckpt $RESULTS/hopper/Hopper-v4__ghp_lowrank__1) \
  --tags eval/return_ --out $D/hopper_full_vs_lowrank.png \
  --title "Hopper-v4, seed 1: the paper's full decoder vs lowrank" > $D/hopper_full_vs_lowrank.md
python docs/plot_curves.py --runs $RESULTS/hopper/Hopper-v4__baseline__* --tags eval/return_ --out $D/hopper_baseline_rerun.png \
  --title "Hopper-v4 baseline [256,256], lr 3e-4, no decay (seeds 1, 2)" > $D/hopper_baseline_rerun.md
python docs/plot_curves.py --runs $RESULTS/hopper_small/Hopper-v4__* $(ckpt $RESULTS/hopper/Hopper-v4__baseline__1) \
  --tags eval/return_ --out $D/hopper_scratch.png --title "Hopper-v4, seed 1: small archs trained from scratch" \
  > $D/hopper_scratch.md

# ---- Issue 14, item 4: the HER schedule on FetchReach-v4 (lowrank decoder, seed 1, 5 epochs = 100k env
# steps, commit 97d6ea8). classic: one meta-batch per cycle, trained for all 40 updates;
# steps_per_arch4: a new training meta-batch every 4 updates (the authors' FetchReach steps_per_arc).
reach_schedule() {  # reach_schedule NAME FLAGS...
  name=$1; shift
  python ghp_ddpg_her.py --rollouts-per-cycle 1 --env-id FetchReach-v4 --seed 1 --epochs 5 --eval-archs 20 --ghn-decoder lowrank --threads 1 \
    --no-cuda --runs-dir $RESULTS/reach_schedule --exp-name $name "$@" > $RESULTS/logs/reach_schedule_$name.log 2>&1
  python evaluate.py run --checkpoint $(ckpt $RESULTS/reach_schedule/FetchReach-v4__${name}__1)/checkpoint.pt --episodes 5 \
    --threads 1 --out-dir $RESULTS/reach_schedule_eval_$name > $RESULTS/logs/reach_schedule_eval_$name.log 2>&1
}
reach_schedule classic --steps-per-arch 0 &  # (0 was the default then; 4 since issue 14)
reach_schedule steps_per_arch4 --steps-per-arch 4 &
wait
python docs/plot_curves.py --runs $RESULTS/reach_schedule/FetchReach-v4__* --tags charts/test_success_rate eval/success_ \
  --ylabel "success rate" --out docs/results/reach_schedule_curves.png \
  --title "FetchReach-v4, GHP lowrank, seed 1: classic schedule vs --steps-per-arch 4" > docs/results/reach_schedule_curves.md
# Seed 2 of both schedules (code as of the 300k runs), evaluated where seed 1's schedules differed: all 584 archs
# with 1-3 hidden layers, and a seeded 500 of the 4680 for the rest (all 4680 would take ~25 min per checkpoint)
reach_schedule_seed() {  # reach_schedule_seed SEED NAME FLAGS...
  seed=$1 name=$2; shift 2
  python ghp_ddpg_her.py --rollouts-per-cycle 1 --env-id FetchReach-v4 --seed $seed --epochs 5 --eval-archs 20 --ghn-decoder lowrank --threads 1 \
    --no-cuda --runs-dir $RESULTS/reach_schedule --exp-name $name "$@" > $RESULTS/logs/reach_schedule_${name}_s$seed.log 2>&1
  run=$(ckpt $RESULTS/reach_schedule/FetchReach-v4__${name}__$seed)
  shallow=$(python -c "import archspace; print(';'.join(','.join(map(str, a)) for a in archspace.all_archs() if len(a) < 4))")
  python evaluate.py run --checkpoint $run/checkpoint.pt --archs "$shallow" --episodes 5 --threads 1 \
    --out-dir $RESULTS/reach_schedule_eval_${name}_s${seed}_shallow > $RESULTS/logs/reach_schedule_eval_${name}_s${seed}_shallow.log 2>&1
  python evaluate.py run --checkpoint $run/checkpoint.pt --archs random:500 --episodes 5 --threads 1 \
    --out-dir $RESULTS/reach_schedule_eval_${name}_s${seed}_random500 > $RESULTS/logs/reach_schedule_eval_${name}_s${seed}_random500.log 2>&1
}
reach_schedule_seed 2 classic --steps-per-arch 0
reach_schedule_seed 2 steps_per_arch4 --steps-per-arch 4
# FetchReach's Table I (seed 1, 100k env steps): the baseline above (fetchreach baseline) and the --steps-per-arch 4
# GHN's picks on 20 fresh episodes, the baseline distilled into the 90% arch (bc_distill_her.py), and the 90% arch
# trained alone with the baseline's flags (off-policy RL)
reach_table1() {  # reach_table1 ARCH (the 90% arch of the steps_per_arch4 report)
  teacher=$(ckpt $RESULTS/fetchreach/FetchReach-v4__baseline__1)
  evaluate_fresh $teacher FetchReach-v4_s1_baseline
  evaluate_fresh $(ckpt $RESULTS/reach_schedule/FetchReach-v4__steps_per_arch4__1) FetchReach-v4_s1_picks --archs "$1;4,8;256,256"
  python bc_distill_her.py --teacher $teacher/checkpoint.pt --arch $1 --seed 1 --data-steps 100000 --epochs 50 --threads 1 \
    --runs-dir $RESULTS/bc --exp-name bc > $RESULTS/logs/bc_FetchReach-v4_s1_${1//,/-}.log 2>&1
  evaluate_fresh $(ckpt $RESULTS/bc/FetchReach-v4__bc_${1//,/-}__1) FetchReach-v4_s1_bc_${1//,/-}
  python ghp_ddpg_her.py --rollouts-per-cycle 1 --env-id FetchReach-v4 --seed 1 --epochs 5 --threads 1 --no-cuda --runs-dir $RESULTS/fetchreach \
    --baseline-arch $1 --exp-name scratch_${1//,/-} > $RESULTS/logs/fetch_scratch_${1//,/-}.log 2>&1
  evaluate_fresh $(ckpt $RESULTS/fetchreach/FetchReach-v4__scratch_${1//,/-}__1) FetchReach-v4_s1_scratch_${1//,/-}
}
reach_table1 4

# ---- Issue 14, item 1: locomotion at 300k env steps, GHP (lowrank decoder: the paper's decoder runs at
# 0.06x the baseline's speed on these CPUs, docs/benchmarks.md) against the [256,256] baseline, same seed and
# budget. Too long for one 3-hour session: each run checkpoints every 10k steps with its replay buffer and
# is continued exactly with --resume (the second form below) until it reaches 300k.
locomotion() {  # [STEPS=N] [LOG=NAME] locomotion ENV SEED ghp|baseline [FLAGS...] (300k env steps unless set)
  if [ "$3" = ghp ]; then policy="--ghn-decoder lowrank --exp-name ghp_lowrank"; else policy="--baseline-arch 256,256 --exp-name baseline"; fi
  python ghp_sac.py --env-id $1 --seed $2 --total-timesteps ${STEPS:-300000} --eval-every 10000 --eval-episodes 3 --save-every 10000 \
    --threads 1 --no-cuda --runs-dir $RESULTS/locomotion $policy "${@:4}" >> $RESULTS/logs/${LOG:-${1}_$3_s$2}.log 2>&1
}
locomotion_resume() {  # [LOG=NAME] locomotion_resume ENV SEED ghp_lowrank|baseline: continue a stopped run exactly
  python ghp_sac.py --resume $(ckpt $RESULTS/locomotion/$1__$3__$2)/checkpoint.pt --threads 1 --no-cuda \
    >> $RESULTS/logs/${LOG:-${1}_${3%_lowrank}_s$2}.log 2>&1
}
# (a run stopped by the end of a session continues with: locomotion_resume ENV SEED ghp_lowrank|baseline)
locomotion Hopper-v4 1 ghp --ghn-code-slope 0 & locomotion Hopper-v4 1 baseline & wait
locomotion Walker2d-v4 1 baseline; locomotion Walker2d-v4 1 ghp --ghn-code-slope 0
locomotion HalfCheetah-v4 1 baseline
# HalfCheetah with the plain ReLU collapsed (docs/results.md) and was stopped by hand at 95k; its folder and log were
# set aside, and the run repeated with the leaky ReLU
locomotion HalfCheetah-v4 1 ghp --ghn-code-slope 0
mkdir -p $RESULTS/collapsed && mv $(ckpt $RESULTS/locomotion/HalfCheetah-v4__ghp_lowrank__1) $RESULTS/collapsed/
mv $RESULTS/logs/HalfCheetah-v4_ghp_s1.log $RESULTS/collapsed/HalfCheetah-v4_ghp_s1_relu.log
locomotion HalfCheetah-v4 1 ghp
# Hopper's second seed, with the leaky codes (resumed at 270k with locomotion_resume Hopper-v4 2 ghp_lowrank)
locomotion Hopper-v4 2 ghp; locomotion Hopper-v4 2 baseline
# The paper's full decoder on the same seed and flags for 100k env steps, against the first 100k of the lowrank
# run above (its ghn_<step>.pt snapshots and eval curve). glibc keeps freed memory (docs/benchmarks.md: +30%).
full_decoder() {  # full_decoder ENV SEED STEPS [FLAGS...]
  MALLOC_MMAP_THRESHOLD_=4000000000 MALLOC_TRIM_THRESHOLD_=4000000000 \
  python ghp_sac.py --env-id $1 --seed $2 --total-timesteps $3 --eval-every 10000 --eval-episodes 3 --save-every 10000 \
    --threads 1 --no-cuda --runs-dir $RESULTS/locomotion --ghn-decoder full --exp-name ghp_full "${@:4}" >> $RESULTS/logs/${1}_ghp_full_s$2.log 2>&1
}
full_decoder Hopper-v4 1 100000 --ghn-code-slope 0  # as the lowrank run it is compared with
# (continued across sessions with: MALLOC_MMAP_THRESHOLD_=4000000000 MALLOC_TRIM_THRESHOLD_=4000000000 locomotion_resume Hopper-v4 1 ghp_full)
# Both decoders' snapshots at 50k and 100k steps on all 4680 archs x 5 episodes, their best archs on 20 fresh
# episodes, and the eval curves of the first 100k steps (the full decoder's 100k snapshot ran as two halves, --shard 0/2
# and 1/2, joined with evaluate.py merge: the same rows, as each arch's episodes have fixed seeds)
snapshot_eval() {  # snapshot_eval lowrank|full STEP NAME [FLAGS...]: Hopper seed 1's ghn_STEP.pt into $RESULTS/eval300k/NAME
  evaluate_checkpoint $(ckpt $RESULTS/locomotion/Hopper-v4__ghp_$1__1)/ghn_$2.pt "${@:3}"
}
for decoder in lowrank full; do
  for step in 50000 100000; do snapshot_eval $decoder $step Hopper-v4_s1_${decoder}_at$((step / 1000))k --archs all --episodes 5; done
done
# quartiles of each snapshot's archs and how many score over 1000 (hopping), 2000, 3000
for csv in $RESULTS/eval300k/Hopper-v4_s1_{lowrank,full}_at{50,100}k/results.csv; do python docs/landscape_numbers.py spread $csv --levels 1000 2000 3000; done
for decoder in lowrank full; do  # each snapshot's best and 90% archs (report.md), [256,256] and the paper's [8,4,4,4]
  snapshot_eval $decoder 100000 Hopper-v4_s1_${decoder}_at100k_picks --archs "16,128,32;16,32,4,4;512,4,16,512;4,128,8,16;256,256;8,4,4,4" --episodes 20 --seed 1000
done
python docs/plot_curves.py --runs $(ckpt $RESULTS/locomotion/Hopper-v4__ghp_full__1) $(ckpt $RESULTS/locomotion/Hopper-v4__ghp_lowrank__1) \
  --tags eval/return_ --max-step 100000 --out docs/results/hopper100k_full_vs_lowrank.png \
  --title "Hopper-v4, seed 1, first 100k env steps: the paper's full decoder vs lowrank" > docs/results/hopper100k_full_vs_lowrank.md

# ---- Issue 14, items 2 and 3 for one finished pair of runs (ENV SEED): the GHN's final checkpoint on all 4680
# archs x 5 episodes (episode seeds 0..4, two shards), its picks and the baseline on 20 fresh episodes (seeds 1000..1019),
# then Table I's behaviour-cloning (the final baseline distilled into the 90% arch) and off-policy RL (the 90%
# arch trained alone with the baseline's flags) columns.
evaluate_locomotion() {  # evaluate_locomotion ENV SEED [ARCHS NAME]: all archs (or ARCHS, e.g. random:1000, into <ENV>_s<SEED>_NAME)
  evaluate_shards $(ckpt $RESULTS/locomotion/$1__ghp_lowrank__$2)/checkpoint.pt ${3:-all} $RESULTS/eval300k/$1_s$2${4:+_$4} \
    $RESULTS/logs/eval300k_$1_s$2${4:+_$4}
}
evaluate_picks() {  # evaluate_picks ENV SEED "ARCH;ARCH;...": the picks of report.md, and the baseline, on 20 fresh episodes
  evaluate_fresh $(ckpt $RESULTS/locomotion/$1__ghp_lowrank__$2) $1_s$2_picks --archs "$3"
  evaluate_fresh $(ckpt $RESULTS/locomotion/$1__baseline__$2) $1_s$2_baseline
}
behaviour_cloning() {  # behaviour_cloning ENV SEED ARCH [NAME FLAGS...]: the final [256,256] baseline distilled into ARCH
  env=$1 seed=$2 arch=$3 name=${4:-bc}; shift 4 2>/dev/null || shift 3
  python bc_distill.py --teacher $(ckpt $RESULTS/locomotion/${env}__baseline__$seed)/checkpoint.pt --arch $arch --seed $seed \
    --data-steps 100000 --epochs 50 --eval-episodes 20 --threads 1 --runs-dir $RESULTS/bc --exp-name $name "$@" \
    > $RESULTS/logs/${name}_${env}_s${seed}_${arch//,/-}.log 2>&1
  evaluate_fresh $(ckpt $RESULTS/bc/${env}__${name}_${arch//,/-}__$seed) ${env}_s${seed}_${name}_${arch//,/-}
}
off_policy_rl() {  # [STEPS=N] off_policy_rl ENV SEED ARCH [FLAGS...]: ARCH trained alone as a fixed SAC actor, the
  # baseline's flags and budget (STEPS env steps, 300k unless set), then its final checkpoint on 20 fresh episodes
  python ghp_sac.py --env-id $1 --seed $2 --total-timesteps ${STEPS:-300000} --eval-every 10000 --eval-episodes 3 --save-every 10000 \
    --threads 1 --no-cuda --runs-dir $RESULTS/locomotion --baseline-arch $3 --exp-name scratch_${3//,/-} "${@:4}" \
    >> $RESULTS/logs/${1}_scratch_${3//,/-}_s$2.log 2>&1
  evaluate_fresh $(ckpt $RESULTS/locomotion/$1__scratch_${3//,/-}__$2) $1_s$2_scratch_${3//,/-}
}
# Hopper seed 1 (after its two runs reached 300k): every arch, the picks (max, 90% = 80%, the generated [256,256],
# the paper's Hopper 90% and max archs), then the two Table I columns for the 90% arch [4,4] (BC also for the
# paper's [8,4,4,4], and once with 3x the data and 4x the epochs)
evaluate_fresh $(ckpt $RESULTS/locomotion/Walker2d-v4__baseline__1) Walker2d-v4_s1_baseline
evaluate_fresh $(ckpt $RESULTS/locomotion/HalfCheetah-v4__baseline__1) HalfCheetah-v4_s1_baseline
evaluate_locomotion Hopper-v4 1
evaluate_picks Hopper-v4 1 "128;4,4;256,256;8,4,4,4;32,512,4,32"
behaviour_cloning Hopper-v4 1 8,4,4,4
behaviour_cloning Hopper-v4 1 4,4
behaviour_cloning Hopper-v4 1 4,4 bc_large --data-steps 300000 --epochs 200
off_policy_rl Hopper-v4 1 4,4
python docs/plot_curves.py --runs $(ckpt $RESULTS/locomotion/Hopper-v4__ghp_lowrank__1) $(ckpt $RESULTS/locomotion/Hopper-v4__baseline__1) \
  --tags eval/return_ --out docs/results/hopper300k_curves.png \
  --title "Hopper-v4, SAC, seed 1, 300k env steps: GHP (lowrank) vs the [256,256] baseline" > docs/results/hopper300k_curves.md
scratch_curves() {  # scratch_curves ENV SEED ARCH OUT: ARCH trained alone against the baseline and the GHN's probes
  python docs/plot_curves.py --runs $(ckpt $RESULTS/locomotion/$1__ghp_lowrank__$2) $(ckpt $RESULTS/locomotion/$1__baseline__$2) \
    $(ckpt $RESULTS/locomotion/$1__scratch_${3//,/-}__$2) --tags eval/return_256-256 eval/return_${3//,/-} eval/return_16-16 eval/return_64-64 \
    --out docs/results/$4.png --title "$1, seed $2, 300k env steps: [$3] trained alone vs the baseline and GHP probes" > docs/results/$4.md
}
scratch_curves Hopper-v4 1 4,4 hopper300k_scratch
# The landscape numbers of results.md (docs/landscape_numbers.py, from the committed CSV): the spread and the archs
# that beat the baseline's 20-episode score, Fig. 4(b)'s cut-off (archs above and below a D_LM value), the scores
# of Table II's picks over its 5000 cutoffs (evaluate.py's default --seed 0), and the median per first-layer width
landscape() {  # landscape ENV_SEED BASELINE_SCORE D_LM SCORE_LEVEL [PICKS_LO PICKS_HI]
  csv=docs/results/eval300k/$1/results.csv
  python docs/landscape_numbers.py spread $csv --beat $2
  python docs/landscape_numbers.py dlm-split $csv --d-lm $3 --under $4
  python docs/landscape_numbers.py picks $csv ${5:+--within $5 $6}
  python docs/landscape_numbers.py first-layer $csv
}
landscape Hopper-v4_s1 2138 250 3000 3120 3142
# Walker2d seed 1 (after its two runs reached 300k): the same steps, its 90% arch read from the report
python docs/plot_curves.py --runs $(ckpt $RESULTS/locomotion/Walker2d-v4__ghp_lowrank__1) $(ckpt $RESULTS/locomotion/Walker2d-v4__baseline__1) \
  --tags eval/return_ --out docs/results/walker300k_curves.png \
  --title "Walker2d-v4, SAC, seed 1, 300k env steps: GHP (lowrank) vs the [256,256] baseline" > docs/results/walker300k_curves.md
evaluate_locomotion Walker2d-v4 1
evaluate_picks Walker2d-v4 1 "128,16,64,128;32,4,4,32;256,256;32,256,4,64;16,16,4"  # max, 90% = 80%, and the paper's
behaviour_cloning Walker2d-v4 1 32,4,4,32
behaviour_cloning Walker2d-v4 1 16,16,4
off_policy_rl Walker2d-v4 1 32,4,4,32
scratch_curves Walker2d-v4 1 32,4,4,32 walker300k_scratch
landscape Walker2d-v4_s1 3086 250 1000
# HalfCheetah seed 1 with the fixed GHN: first a seeded sample of 1000 archs x 5 episodes (the session's time
# allowed no more; the full evaluate_locomotion and Table I's other columns follow), its picks and the paper's
# HalfCheetah archs on 20 fresh episodes, and the learning curves
evaluate_locomotion HalfCheetah-v4 1 random:1000 sample1000
evaluate_fresh $(ckpt $RESULTS/locomotion/HalfCheetah-v4__ghp_lowrank__1) HalfCheetah-v4_s1_sample1000_picks --archs "256,128,8,128;64,4,32;8,8,8;256,256;128,512,512,256;64,4,4,32"  # the sample's max, 90%, 80%, then the paper's
python docs/plot_curves.py --runs $(ckpt $RESULTS/locomotion/HalfCheetah-v4__ghp_lowrank__1) $(ckpt $RESULTS/locomotion/HalfCheetah-v4__baseline__1) \
  --tags eval/return_ --out docs/results/halfcheetah300k_curves.png \
  --title "HalfCheetah-v4, SAC, seed 1, 300k env steps: GHP (lowrank, leaky codes) vs the [256,256] baseline" > docs/results/halfcheetah300k_curves.md
# then every arch (the levels of docs/results.md), its picks with the paper's two archs, and Table I's other columns
# for the 90% arch [16,8,16,32] (BC also for the paper's [64,4,4,32])
evaluate_locomotion HalfCheetah-v4 1
evaluate_fresh $(ckpt $RESULTS/locomotion/HalfCheetah-v4__ghp_lowrank__1) HalfCheetah-v4_s1_picks --archs "256,64,512,64;16,8,16,32;8,8;256,256;128,512,512,256;64,4,4,32"  # max, 90%, 80%, then the paper's
behaviour_cloning HalfCheetah-v4 1 16,8,16,32
behaviour_cloning HalfCheetah-v4 1 64,4,4,32
off_policy_rl HalfCheetah-v4 1 16,8,16,32
scratch_curves HalfCheetah-v4 1 16,8,16,32 halfcheetah300k_scratch
landscape HalfCheetah-v4_s1 8052 500 7000
# HalfCheetah's GHP run with the plain ReLU was stopped at 95k (every arch the same constant policy): the GHN's live
# weight codes over training, and in the runs with the plain ReLU (Hopper, Walker2d) and the leaky one (HalfCheetah)
python docs/ghn_codes_alive.py $(ckpt $RESULTS/collapsed/HalfCheetah-v4__ghp_lowrank__1)/ghn_{10000,20000,30000,40000,50000,90000}.pt \
  $(ckpt $RESULTS/locomotion/Hopper-v4__ghp_lowrank__1)/ghn_{10000,100000,300000}.pt \
  $(ckpt $RESULTS/locomotion/Walker2d-v4__ghp_lowrank__1)/ghn_{10000,100000,300000}.pt \
  $(ckpt $RESULTS/locomotion/HalfCheetah-v4__ghp_lowrank__1)/ghn_{10000,20000,30000,40000,70000,100000,200000,300000}.pt

# Hopper seed 2 (after its two runs reached 300k): the same steps as seed 1, its 90% arch [4,4,8] read from the report
python docs/plot_curves.py --runs $(ckpt $RESULTS/locomotion/Hopper-v4__ghp_lowrank__2) $(ckpt $RESULTS/locomotion/Hopper-v4__baseline__2) \
  --tags eval/return_ --out docs/results/hopper300k_s2_curves.png \
  --title "Hopper-v4, SAC, seed 2, 300k env steps: GHP (lowrank, leaky codes) vs baseline" > docs/results/hopper300k_s2_curves.md
evaluate_locomotion Hopper-v4 2
evaluate_picks Hopper-v4 2 "8,8,8,8;4,4,8;256,256;8,4,4,4;32,512,4,32"  # max, 90% = 80%, and the paper's
behaviour_cloning Hopper-v4 2 4,4,8
off_policy_rl Hopper-v4 2 4,4,8
scratch_curves Hopper-v4 2 4,4,8 hopper300k_s2_scratch
landscape Hopper-v4_s2 1345 250 3000

# ---- Issue 14, item 4: FetchPush-v4, GHP (lowrank, the authors' --steps-per-arch 4, which solved all
# 4680 FetchReach archs above) against the [256,256] baseline, seed 1, 10 epochs = 200k env steps.
push() {  # push NAME FLAGS...
  name=$1; shift
  python ghp_ddpg_her.py --rollouts-per-cycle 1 --env-id FetchPush-v4 --seed 1 --epochs 10 --eval-archs 20 --threads 1 --no-cuda \
    --runs-dir $RESULTS/push --exp-name $name "$@" > $RESULTS/logs/push_$name.log 2>&1
}
push ghp_lowrank_spa4 --ghn-decoder lowrank --steps-per-arch 4 &
push baseline --baseline-arch 256,256 &
wait
python evaluate.py run --checkpoint $(ckpt $RESULTS/push/FetchPush-v4__ghp_lowrank_spa4__1)/checkpoint.pt --archs random:500 \
  --episodes 5 --threads 2 --out-dir $RESULTS/push_eval > $RESULTS/logs/push_eval.log 2>&1
python evaluate.py run --checkpoint $(ckpt $RESULTS/push/FetchPush-v4__baseline__1)/checkpoint.pt --episodes 20 --threads 2 \
  --out-dir $RESULTS/push_eval_baseline > $RESULTS/logs/push_eval_baseline.log 2>&1
python docs/plot_curves.py --runs $RESULTS/push/FetchPush-v4__* --tags charts/test_success_rate charts/train_success_rate \
  --ylabel "success rate" --out docs/results/push_curves.png \
  --title "FetchPush-v4, seed 1, 200k env steps: GHP (lowrank, --steps-per-arch 4) vs baseline" > docs/results/push_curves.md

# ---- Issues 23 and 24 (commit 4fb466b and later; CompilableAdam computes Adam's bias corrections in float64 since
# 6da8f14). Every new SAC run passes the authors' per-task --steps-per-arch (docs/method.md): 50 for Hopper,
# HalfCheetah and Ant, 100 for Walker2d and Humanoid.
# Humanoid-v4 (the user's task), seed 1, 500k env steps, GHP (lowrank decoder) against the [256,256] baseline, both
# compiled (docs/benchmarks.md: on Humanoid --compile gives the GHP 1.18x and the baseline 1.31x on one thread). Each
# checkpoints every 10k steps with its replay buffer and continues across sessions with
# locomotion_resume Humanoid-v4 1 ghp_lowrank|baseline (a resumed run keeps the checkpoint's --compile).
STEPS=500000 locomotion Humanoid-v4 1 ghp --steps-per-arch 100 --compile &
STEPS=500000 locomotion Humanoid-v4 1 baseline --steps-per-arch 100 --compile &
wait
# Issue 23 item 1: the authors' HER schedule (8 rollouts per cycle, the default since 4fb466b) against the classic one
# (--rollouts-per-cycle 1), both with --steps-per-arch 4, on FetchReach at the same 160k env steps (lowrank decoder,
# leaky codes): classic 8 epochs of 50 cycles x 400 steps, the authors' 5 epochs of 10 cycles x 3,200 steps (an epoch
# of 50 such cycles would test only once). Evaluated as reach_schedule_seed did: every arch with 1-3 hidden layers
# and a seeded 500 of the 4680, 5 episodes each.
reach_rollouts() {  # reach_rollouts SEED NAME FLAGS...
  seed=$1 name=$2; shift 2
  python ghp_ddpg_her.py --env-id FetchReach-v4 --seed $seed --eval-archs 20 --ghn-decoder lowrank --threads 1 --no-cuda \
    --runs-dir $RESULTS/reach_rollouts --exp-name $name "$@" > $RESULTS/logs/reach_rollouts_${name}_s$seed.log 2>&1
  run=$(ckpt $RESULTS/reach_rollouts/FetchReach-v4__${name}__$seed)
  shallow=$(python -c "import archspace; print(';'.join(','.join(map(str, a)) for a in archspace.all_archs() if len(a) < 4))")
  evaluate_checkpoint $run/checkpoint.pt reach_rollouts_${name}_s${seed}_shallow --archs "$shallow" --episodes 5
  evaluate_checkpoint $run/checkpoint.pt reach_rollouts_${name}_s${seed}_random500 --archs random:500 --episodes 5
}
reach_rollouts 1 classic --rollouts-per-cycle 1 --epochs 8
reach_rollouts 1 authors --rollouts-per-cycle 8 --cycles-per-epoch 10 --epochs 5
python docs/plot_curves.py --runs $RESULTS/reach_rollouts/FetchReach-v4__* --tags charts/test_success_rate eval/success_ \
  --ylabel "success rate" --out docs/results/reach_rollouts_curves.png \
  --title "FetchReach-v4, GHP lowrank, seed 1, 160k env steps: 1 or 8 rollouts per cycle" > docs/results/reach_rollouts_curves.md
# Humanoid's learning curves (both runs' probe evaluations; the first step each reaches 1000 / 3000 / 5000)
python docs/plot_curves.py --runs $(ckpt $RESULTS/locomotion/Humanoid-v4__ghp_lowrank__1) $(ckpt $RESULTS/locomotion/Humanoid-v4__baseline__1) \
  --tags eval/return_ --levels 1000 3000 5000 --out docs/results/humanoid_curves.png \
  --title "Humanoid-v4, SAC, seed 1: GHP (lowrank, steps_per_arch 100) vs the [256,256] baseline" > docs/results/humanoid_curves.md
# Issue 23 item 4: behaviour cloning with the action loss (bc_distill.py since 1e3106f). The 300k teachers' checkpoints
# went with the machine they ran on, so each is retrained with its own command above (Hopper seed 1:
# `locomotion Hopper-v4 1 baseline`; the retrained run is not bit-identical to the first one: its 20k probe scored 321
# against 406), evaluated on the same 20 fresh episodes, and distilled into the 90% arch of its row and the paper's.
LOG=Hopper-v4_baseline_s1_retrained locomotion Hopper-v4 1 baseline
evaluate_fresh $(ckpt $RESULTS/locomotion/Hopper-v4__baseline__1) Hopper-v4_s1_baseline_retrained
behaviour_cloning Hopper-v4 1 4,4 bc_action
behaviour_cloning Hopper-v4 1 8,4,4,4 bc_action
# The same teacher and data with the former loss on raw (mean, log_std), bc_distill.py as of b0e9910, to separate the
# loss from the teacher
git worktree add /tmp/bc_former b0e9910
for arch in 8,4,4,4 4,4; do
  (cd /tmp/bc_former && python bc_distill.py --teacher $(ckpt $RESULTS/locomotion/Hopper-v4__baseline__1)/checkpoint.pt --arch $arch \
     --seed 1 --data-steps 100000 --epochs 50 --eval-episodes 20 --threads 1 --runs-dir $RESULTS/bc --exp-name bc_formerloss) \
    > $RESULTS/logs/bc_formerloss_Hopper-v4_s1_${arch//,/-}.log 2>&1
  evaluate_fresh $(ckpt $RESULTS/bc/Hopper-v4__bc_formerloss_${arch//,/-}__1) Hopper-v4_s1_bc_formerloss_${arch//,/-}
done
git worktree remove --force /tmp/bc_former
# Issue 27 item 3: does a small policy survive int8? Each checkpoint's archs in float32 and in int8 (evaluate.py run
# --int8: policy_int8.h's arithmetic) on the same 20 fresh episodes (seeds 1000..1019)
int8_compare() {  # int8_compare CHECKPOINT NAME ARCHS: into $RESULTS/eval300k/NAME_float32 and NAME_int8
  evaluate_checkpoint $1 $2_float32 --archs "$3" --episodes 20 --seed 1000
  evaluate_checkpoint $1 $2_int8 --archs "$3" --episodes 20 --seed 1000 --int8
}
# FetchReach at 160k (issue 23's two schedules): their max/90%/80% arch [4] (all three the same), the 4-layer
# pick of their random500 reports, [16,16] and the baseline's size
for name in classic authors; do
  int8_compare $(ckpt $RESULTS/reach_rollouts/FetchReach-v4__${name}__1)/checkpoint.pt reach_${name}_s1 "4;4,8,4,8;16,16;256,256"
done
# Hopper seed 1's retrained [256,256] teacher and its action-loss students (fixed MLPs: their one arch each)
int8_compare $(ckpt $RESULTS/locomotion/Hopper-v4__baseline__1)/checkpoint.pt Hopper-v4_s1_baseline_retrained 256,256
for arch in 8,4,4,4 4,4; do
  int8_compare $(ckpt $RESULTS/bc/Hopper-v4__bc_action_${arch//,/-}__1)/checkpoint.pt Hopper-v4_s1_bc_action_${arch//,/-} $arch
done
# Issue 23 item 4, the other locomotion rows: each teacher retrained with its own command above (its checkpoint went
# with the machine), evaluated on the same 20 fresh episodes, distilled with the action loss into its row's 90% arch
# and the paper's, then with the former loss (b0e9910's bc_distill.py) on the same teacher and data
LOG=Hopper-v4_baseline_s2_retrained locomotion Hopper-v4 2 baseline
evaluate_fresh $(ckpt $RESULTS/locomotion/Hopper-v4__baseline__2) Hopper-v4_s2_baseline_retrained
behaviour_cloning Hopper-v4 2 4,4,8 bc_action
LOG=Walker2d-v4_baseline_s1_retrained locomotion Walker2d-v4 1 baseline
evaluate_fresh $(ckpt $RESULTS/locomotion/Walker2d-v4__baseline__1) Walker2d-v4_s1_baseline_retrained
behaviour_cloning Walker2d-v4 1 32,4,4,32 bc_action
behaviour_cloning Walker2d-v4 1 16,16,4 bc_action
LOG=HalfCheetah-v4_baseline_s1_retrained locomotion HalfCheetah-v4 1 baseline
evaluate_fresh $(ckpt $RESULTS/locomotion/HalfCheetah-v4__baseline__1) HalfCheetah-v4_s1_baseline_retrained
behaviour_cloning HalfCheetah-v4 1 16,8,16,32 bc_action
behaviour_cloning HalfCheetah-v4 1 64,4,4,32 bc_action
git worktree add /tmp/bc_former b0e9910
former_loss() {  # former_loss ENV SEED ARCH [NAME FLAGS...]: b0e9910's bc_distill.py on the same teacher, then 20 fresh episodes
  env=$1 seed=$2 arch=$3 name=${4:-bc_formerloss}; shift 4 2>/dev/null || shift 3
  (cd /tmp/bc_former && python bc_distill.py --teacher $(ckpt $RESULTS/locomotion/${env}__baseline__$seed)/checkpoint.pt \
     --arch $arch --seed $seed --data-steps 100000 --epochs 50 --eval-episodes 20 --threads 1 --runs-dir $RESULTS/bc \
     --exp-name $name "$@") > $RESULTS/logs/${name}_${env}_s${seed}_${arch//,/-}.log 2>&1
  evaluate_fresh $(ckpt $RESULTS/bc/${env}__${name}_${arch//,/-}__$seed) ${env}_s${seed}_${name}_${arch//,/-}
}
former_loss Hopper-v4 2 4,4,8
former_loss Walker2d-v4 1 32,4,4,32
former_loss Walker2d-v4 1 16,16,4
former_loss HalfCheetah-v4 1 16,8,16,32
former_loss HalfCheetah-v4 1 64,4,4,32
# A second BC run of each Walker2d and Hopper student with both losses: --seed 11 (other teacher episodes, another
# student initialisation), the same teacher. (Its folders: <env>__<name>_<arch>__11; evaluations <env>_s<seed>_<name>_<arch>.)
bc_seed11() {  # bc_seed11 ENV SEED ARCH NAME_SUFFIX: action loss and former loss, BC seed 11
  teacher=$(ckpt $RESULTS/locomotion/$1__baseline__$2)/checkpoint.pt
  python bc_distill.py --teacher $teacher --arch $3 --seed 11 --data-steps 100000 --epochs 50 --eval-episodes 20 --threads 1 \
    --runs-dir $RESULTS/bc --exp-name bc_action_seed11$4 > $RESULTS/logs/bc_action_seed11_$1_s$2_${3//,/-}.log 2>&1
  evaluate_fresh $(ckpt $RESULTS/bc/$1__bc_action_seed11$4_${3//,/-}__11) $1_s$2_bc_action_seed11_${3//,/-}
  (cd /tmp/bc_former && python bc_distill.py --teacher $teacher --arch $3 --seed 11 --data-steps 100000 --epochs 50 --eval-episodes 20 \
     --threads 1 --runs-dir $RESULTS/bc --exp-name bc_formerloss_seed11$4) > $RESULTS/logs/bc_formerloss_seed11_$1_s$2_${3//,/-}.log 2>&1
  evaluate_fresh $(ckpt $RESULTS/bc/$1__bc_formerloss_seed11$4_${3//,/-}__11) $1_s$2_bc_formerloss_seed11_${3//,/-}
}
bc_seed11 Walker2d-v4 1 16,16,4 ""
bc_seed11 Walker2d-v4 1 32,4,4,32 ""
bc_seed11 Hopper-v4 1 8,4,4,4 _s1
bc_seed11 Hopper-v4 1 4,4 _s1
bc_seed11 Hopper-v4 2 4,4,8 _s2
git worktree remove --force /tmp/bc_former
# Issue 24 item 3: Walker2d's GHP rerun with the leaky codes (the default since 07a3fb4) and the authors'
# --steps-per-arch 100, compiled, against the two baseline runs of the same seed and budget (the first, and the one
# retrained for issue 23); continues across sessions with
# locomotion_resume Walker2d-v4 1 ghp_lowrank (keeps --compile)
LOG=Walker2d-v4_ghp_rerun_s1 locomotion Walker2d-v4 1 ghp --steps-per-arch 100 --compile
python docs/plot_curves.py --runs $(ckpt $RESULTS/locomotion/Walker2d-v4__ghp_lowrank__1) $(ckpt $RESULTS/locomotion/Walker2d-v4__baseline__1) \
  --tags eval/return_ --out docs/results/walker300k_rerun_curves.png \
  --title "Walker2d-v4, seed 1, 300k env steps: GHP rerun (leaky codes, steps_per_arch 100) vs the retrained baseline" \
  > docs/results/walker300k_rerun_curves.md
# its every arch x 5 episodes, two shards (resumable: rerun the same line)
evaluate_locomotion Walker2d-v4 1 all rerun
# Issue 24: how a SAC policy acts in evaluation matters on Humanoid. evaluate.py run --stochastic (since f3ad918) plays
# the training policy's sampled actions (noise seeded per episode) instead of tanh(mean): the retrained Hopper and
# Walker2d teachers on the same 20 fresh episodes, and the Humanoid GHN's 240k snapshot on its probe archs, 10 episodes
for env in Hopper-v4 Walker2d-v4; do
  evaluate_fresh $(ckpt $RESULTS/locomotion/${env}__baseline__1) ${env}_s1_baseline_retrained_stochastic --stochastic
done
# The Humanoid baseline at 500k (its final checkpoint) both ways, 20 fresh episodes
evaluate_fresh $(ckpt $RESULTS/locomotion/Humanoid-v4__baseline__1) Humanoid-v4_s1_baseline
evaluate_fresh $(ckpt $RESULTS/locomotion/Humanoid-v4__baseline__1) Humanoid-v4_s1_baseline_stochastic --stochastic
for mode in "" --stochastic; do
  evaluate_checkpoint $(ckpt $RESULTS/locomotion/Humanoid-v4__ghp_lowrank__1)/ghn_240000.pt Humanoid-v4_s1_ghn240k_probes${mode:+_stochastic} \
    --archs "4;8,4,4,4;16,16;64,64;256,256;512,512,512,512" --episodes 10 --seed 1000 $mode
done
# Humanoid's training returns (sampled actions; the GHP's envs each run a random arch): mean per 10k env steps
python docs/plot_curves.py --runs $(ckpt $RESULTS/locomotion/Humanoid-v4__ghp_lowrank__1) $(ckpt $RESULTS/locomotion/Humanoid-v4__baseline__1) \
  --tags 'charts/episodic_return$' --bin 10000 --levels 1000 3000 5000 --ylabel "training episode return, mean per 10k steps" \
  --out docs/results/humanoid_training_returns.png \
  --title "Humanoid-v4, seed 1: training episodes (sampled actions), GHP (random archs) vs baseline" > docs/results/humanoid_training_returns.md
# ... and its two widest probe archs over training, sampled actions, 10 episodes per snapshot (the baseline has no
# snapshots: its training returns above are the sampled-action curve to compare with)
run=$(ckpt $RESULTS/locomotion/Humanoid-v4__ghp_lowrank__1)
python evaluate.py curves --checkpoints $(for k in 40 80 120 160 180 200 220 240; do echo $run/ghn_${k}000.pt; done) --threads 1 \
  --archs "256,256;512,512,512,512" --episodes 10 --seed 1000 --stochastic --out-dir $RESULTS/eval300k/Humanoid-v4_s1_ghn_stochastic_curve \
  > $RESULTS/logs/eval300k_Humanoid-v4_s1_ghn_stochastic_curve.log 2>&1
# its picks (max, 90%, 80% of the report), the generated [256,256] and the paper's Walker2d max and 90% archs, float32 and
# int8 on the same 20 fresh episodes (issue 27 item 3 too)
int8_compare $(ckpt $RESULTS/locomotion/Walker2d-v4__ghp_lowrank__1)/checkpoint.pt Walker2d-v4_s1_rerun_picks \
  "16,512,128,512;16,8,8,32;4,16,4;256,256;32,256,4,64;16,16,4"
# Table I's BC and off-policy RL columns for the Walker2d rerun's 90% arch [16,8,8,32] (the retrained baseline as
# teacher; the action loss and the former loss, BC seeds 1 and 11, as for the other rows), then [16,8,8,32] trained alone
git worktree add /tmp/bc_former b0e9910
behaviour_cloning Walker2d-v4 1 16,8,8,32 bc_action
former_loss Walker2d-v4 1 16,8,8,32
bc_seed11 Walker2d-v4 1 16,8,8,32 ""
git worktree remove --force /tmp/bc_former
off_policy_rl Walker2d-v4 1 16,8,8,32
scratch_curves Walker2d-v4 1 16,8,8,32 walker300k_rerun_scratch
# Issue 24 item 2: Ant-v4 (gymnasium's, 27 observations), seed 1, 300k env steps, the [256,256] baseline and then GHP
# (lowrank), both compiled, with the authors' steps_per_arch 50 for Ant; continue with locomotion_resume Ant-v4 1 ...
locomotion Ant-v4 1 baseline --steps-per-arch 50 --compile
evaluate_fresh $(ckpt $RESULTS/locomotion/Ant-v4__baseline__1) Ant-v4_s1_baseline
evaluate_fresh $(ckpt $RESULTS/locomotion/Ant-v4__baseline__1) Ant-v4_s1_baseline_stochastic --stochastic
locomotion Ant-v4 1 ghp --steps-per-arch 50 --compile
# Issue 24 item 4, Humanoid (after the GHP run reached 500k): every arch x 5 episodes with tanh(mean) (two shards), then its
# max / 90% / 80% picks, the generated [256,256], the paper's Humanoid max and 90% archs and [512]*4 on 20 fresh
# episodes, tanh(mean) and sampled actions; the curves above redrawn to 500k
evaluate_locomotion Humanoid-v4 1
# its spread (the median arch, archs above 1000 / 2000 / 3000) and the bottleneck archs above 2000 (a width-4 layer)
python docs/landscape_numbers.py spread docs/results/eval300k/Humanoid-v4_s1/results.csv --levels 1000 2000 3000
python docs/landscape_numbers.py bottleneck docs/results/eval300k/Humanoid-v4_s1/results.csv --width 4 --above 2000
run=$(ckpt $RESULTS/locomotion/Humanoid-v4__ghp_lowrank__1)
picks="32,4,16,512;32,4,16,64;32,4,16,32;256,256;16,8,32,16;8,32,8;512,512,512,512"
evaluate_fresh $run Humanoid-v4_s1_picks --archs "$picks"
evaluate_fresh $run Humanoid-v4_s1_picks_stochastic --archs "$picks" --stochastic
# Table I's BC column for its 90% arch [32,4,16,64] (the 500k baseline as teacher; both losses, BC seeds 1 and 11)
git worktree add /tmp/bc_former b0e9910
behaviour_cloning Humanoid-v4 1 32,4,16,64 bc_action
bc_seed11 Humanoid-v4 1 32,4,16,64 ""
former_loss Humanoid-v4 1 32,4,16,64
git worktree remove --force /tmp/bc_former
# Table I's off-policy RL column for Humanoid: its 90% arch trained alone with the baseline's flags and budget (500k,
# compiled; continues across sessions with locomotion_resume Humanoid-v4 1 scratch_32-4-16-64)
STEPS=500000 off_policy_rl Humanoid-v4 1 32,4,16,64 --steps-per-arch 100 --compile
# Issue 24 item 4, Humanoid: the off-policy RL run above evaluated like the picks (20 fresh episodes, both ways)
evaluate_fresh $(ckpt $RESULTS/locomotion/Humanoid-v4__scratch_32-4-16-64__1) Humanoid-v4_s1_scratch_32-4-16-64
evaluate_fresh $(ckpt $RESULTS/locomotion/Humanoid-v4__scratch_32-4-16-64__1) Humanoid-v4_s1_scratch_32-4-16-64_stochastic --stochastic
# Issue 24 item 4, Ant (after its GHP run reached 300k): the learning curves, every arch x 5 episodes (two shards), the
# picks (max, 90%, 80%, the generated [256,256], the paper's Ant max and 90%) on 20 fresh episodes both ways, then
# Table I's off-policy RL and BC columns for the 90% arch [64,8,8,32]
python docs/plot_curves.py --runs $(ckpt $RESULTS/locomotion/Ant-v4__ghp_lowrank__1) $(ckpt $RESULTS/locomotion/Ant-v4__baseline__1) \
  --tags eval/return_ --levels 2000 3000 --out docs/results/ant_curves.png \
  --title "Ant-v4, SAC, seed 1, 300k env steps: GHP (lowrank, steps_per_arch 50) vs the [256,256] baseline" > docs/results/ant_curves.md
evaluate_locomotion Ant-v4 1
run=$(ckpt $RESULTS/locomotion/Ant-v4__ghp_lowrank__1)
picks="256,64,128,32;64,8,8,32;16,64,8;256,256;256,512,64,8;16,32,32,4"
evaluate_fresh $run Ant-v4_s1_picks --archs "$picks"
evaluate_fresh $run Ant-v4_s1_picks_stochastic --archs "$picks" --stochastic
off_policy_rl Ant-v4 1 64,8,8,32 --steps-per-arch 50 --compile
evaluate_fresh $(ckpt $RESULTS/locomotion/Ant-v4__scratch_64-8-8-32__1) Ant-v4_s1_scratch_64-8-8-32_stochastic --stochastic
# (its first try stopped with the machine at 15k; it continued from its 10k checkpoint with
# locomotion_resume Ant-v4 1 scratch_64-8-8-32, then the two evaluate_fresh lines)
scratch_curves Ant-v4 1 64,8,8,32 ant_scratch
# Issue 27 item 3 for Ant's GHN: the same picks in float32 and int8 (the float32 run repeats Ant-v4_s1_picks exactly)
int8_compare $(ckpt $RESULTS/locomotion/Ant-v4__ghp_lowrank__1)/checkpoint.pt Ant-v4_s1_picks "$picks"
# the same episode's int8 - float32 difference per pick: its range, standard deviation and the mean in standard errors
python docs/landscape_numbers.py paired docs/results/eval300k/Ant-v4_s1_picks_float32/results.csv \
  --against docs/results/eval300k/Ant-v4_s1_picks_int8/results.csv
git worktree add /tmp/bc_former b0e9910
behaviour_cloning Ant-v4 1 64,8,8,32 bc_action
bc_seed11 Ant-v4 1 64,8,8,32 ""
former_loss Ant-v4 1 64,8,8,32
git worktree remove --force /tmp/bc_former
# Issue 27 item 3: the 300k GHNs of Hopper seeds 1 and 2 and HalfCheetah retrained (their first checkpoints went with
# the machine they ran on) with their first commands plus --compile, then every arch and the picks in float32 and int8;
# a stopped run continues with locomotion_resume ENV SEED ghp_lowrank (keeps --compile)
LOG=Hopper-v4_ghp_s1_retrained locomotion Hopper-v4 1 ghp --ghn-code-slope 0 --compile &
LOG=Hopper-v4_ghp_s2_retrained locomotion Hopper-v4 2 ghp --compile & wait
LOG=HalfCheetah-v4_ghp_s1_retrained locomotion HalfCheetah-v4 1 ghp --compile
# then every arch x 5 of each retrained GHN (the shards may run one after the other; the same rows), and its picks
# (max, 90%, 80% of that report, [256,256], the paper's archs) with int8_compare
evaluate_locomotion Hopper-v4 1 all retrained
int8_compare $(ckpt $RESULTS/locomotion/Hopper-v4__ghp_lowrank__1)/checkpoint.pt Hopper-v4_s1_retrained_picks "256,4;16,4,16;256,256;32,512,4,32;8,4,4,4"
# its last checkpoint caught a dip (probes at 300k 609-1303): the same evaluation of its snapshot 10k steps earlier, as
# two shards run side by side, then merged
evaluate_shards $(ckpt $RESULTS/locomotion/Hopper-v4__ghp_lowrank__1)/ghn_290000.pt all $RESULTS/eval300k/Hopper-v4_s1_retrained_at290k \
  $RESULTS/logs/eval300k_Hopper-v4_s1_retrained_at290k
evaluate_locomotion Hopper-v4 2 all retrained
int8_compare $(ckpt $RESULTS/locomotion/Hopper-v4__ghp_lowrank__2)/checkpoint.pt Hopper-v4_s2_retrained_picks "32,32;8,4,4,4;4,4,4,4;256,256;32,512,4,32"
evaluate_locomotion HalfCheetah-v4 1 all retrained
int8_compare $(ckpt $RESULTS/locomotion/HalfCheetah-v4__ghp_lowrank__1)/checkpoint.pt HalfCheetah-v4_s1_retrained_picks "256,128,128;8,32,8,16;8,8,16,4;256,256;128,512,512,256;64,4,4,32"
python docs/landscape_numbers.py paired docs/results/eval300k/HalfCheetah-v4_s1_retrained_picks_float32/results.csv \
  --against docs/results/eval300k/HalfCheetah-v4_s1_retrained_picks_int8/results.csv
# Issue 27: Humanoid's picks in int8 with both ways of acting (their float32 runs: Humanoid-v4_s1_picks*, the same seeds)
h=$(ckpt $RESULTS/locomotion/Humanoid-v4__ghp_lowrank__1)/checkpoint.pt
hp="32,4,16,512;32,4,16,64;32,4,16,32;256,256;16,8,32,16;8,32,8;512,512,512,512"
evaluate_checkpoint $h Humanoid-v4_s1_picks_int8 --archs "$hp" --episodes 20 --seed 1000 --int8
evaluate_checkpoint $h Humanoid-v4_s1_picks_int8_stochastic --archs "$hp" --episodes 20 --seed 1000 --int8 --stochastic
# They fell at once with the first int8 scheme, which led to the int16 observation and the first layer's input scales
# (the commit after 4fc8a1b); then every *_int8 evaluation above was repeated (the int8 half of each int8_compare:
# reach_authors, Hopper's teacher and BC students, the Walker2d rerun's and Ant's picks, and these two; the classic
# FetchReach checkpoint is gone). The variants that located the cause (docs/int8_variants.py):
variant() {  # variant VARIANT CHECKPOINT NAME ARCHS [FLAGS...]
  python docs/int8_variants.py $1 run --checkpoint $2 --archs "$4" --episodes 20 --seed 1000 --int8 --threads 1 "${@:5}" \
    --out-dir $RESULTS/eval300k/int8_variants/$3 > $RESULTS/logs/int8_variants_$3.log 2>&1
}
b=$(ckpt $RESULTS/bc/Hopper-v4__bc_action_8-4-4-4__1)/checkpoint.pt
for v in weights scaled-weights activations weights-first weights-rest; do
  variant $v $h Humanoid-v4_s1_${v}_stochastic "32,4,16,64;256,256;32,4,16,512" --stochastic
done
variant sqrt-scales $b Hopper-v4_s1_bc_action_8-4-4-4_sqrt-scales 8,4,4,4
for v in obs8 obs16; do
  variant $v $h Humanoid-v4_s1_picks_$v "$hp"
  variant $v $h Humanoid-v4_s1_picks_${v}_stochastic "$hp" --stochastic
  variant $v $b Hopper-v4_s1_bc_action_8-4-4-4_$v 8,4,4,4
done
# Humanoid's observation in one random-action episode (actions 0.1 x uniform, seed 1000): the largest entry per step
# and the share of nonzero entries that one int8 scale per observation rounds to 0
python - <<'PY'
import gymnasium as gym, numpy as np
env = gym.make("Humanoid-v4"); env.action_space.seed(1000); observations = [env.reset(seed=1000)[0]]
for _ in range(200):
    observation, _, terminated, _, _ = env.step(0.1 * env.action_space.sample()); observations.append(observation)
    if terminated: break
observations = np.array(observations); largest = np.abs(observations).max(1)
lost = (np.abs(observations) < largest[:, None] / 254) & (observations != 0)
print(f"{len(observations)} steps, largest entry: median {np.median(largest):.0f}, max {largest.max():.0f}; zeroed: "
      f"{lost.sum() / (observations != 0).sum():.2f} of nonzero entries, {lost[:, :45].sum() / (observations[:, :45] != 0).sum():.2f} of qpos/qvel")
PY
# Humanoid with sampled actions: a seeded sample of 1000 archs x 5 episodes (one process), its spread, and its picks on
# 20 fresh episodes
h=$(ckpt $RESULTS/locomotion/Humanoid-v4__ghp_lowrank__1)
evaluate_checkpoint $h/checkpoint.pt Humanoid-v4_s1_sample1000_stochastic --archs random:1000 --episodes 5 --stochastic
python docs/landscape_numbers.py spread docs/results/eval300k/Humanoid-v4_s1_sample1000_stochastic/results.csv --levels 1000 3000 4000 --beat 4352
evaluate_fresh $h Humanoid-v4_s1_sample1000_stochastic_picks --archs "512,8,8;16,16,8,8;16,4,4,16" --stochastic

# ---- Issue 36: seeds 1, 2, 3 of GHP and of the [256,256] baseline at 300k env steps on Hopper-v4 and Walker2d-v4 with
# today's defaults (lowrank, compiled, leaky codes, the authors' steps_per_arch per task: 50 Hopper, 100 Walker2d),
# each GHN on all 4680 archs x 5 episodes, its max / 90% / 80% picks and the generated [256,256] on 20 fresh episodes
# (seeds 1000..1019), the baseline on the same episodes. The runs above count as seeds where they were made with
# these defaults: Hopper seed 2's GHP retrain (Hopper-v4_s2_retrained*), the Walker2d seed-1 rerun (Walker2d-v4_s1_rerun*),
# and the retrained baselines of Hopper seeds 1, 2 and Walker2d seed 1; docs/results/seeds.json lists which folder
# each seed's numbers come from. These ran at commit b5244b1, two at a time, one thread each.
steps_per_arch() { case $1 in Walker2d-v4|Humanoid-v4) echo 100;; *) echo 50;; esac; }
seed_run() {  # seed_run ENV SEED ghp|baseline [shards]: train to 300k (or continue its folder exactly), then evaluate
  local run log=$RESULTS/logs/seeds_$1_$3_s$2.log policy="--baseline-arch 256,256"
  [ $3 = ghp ] && policy="--ghn-decoder lowrank --compile"
  if run=$(ckpt $RESULTS/seeds/$1__$3__$2 2>/dev/null) && [ -f $run/checkpoint.pt ]; then
    python ghp_sac.py --resume $run/checkpoint.pt --threads 1 --no-cuda >> $log 2>&1  # (b5244b1's checkpoint format)
  else
    python ghp_sac.py --env-id $1 --seed $2 --total-timesteps 300000 --eval-every 10000 --eval-episodes 3 --save-every 10000 \
      --steps-per-arch $(steps_per_arch $1) --threads 1 --no-cuda --runs-dir $RESULTS/seeds --exp-name $3 $policy >> $log 2>&1
  fi
  run=$(ckpt $RESULTS/seeds/$1__$3__$2) out=$RESULTS/seeds_eval/$1_$3_s$2
  if [ $3 = ghp ]; then
    if [ "$4" = shards ]; then
      evaluate_shards $run/checkpoint.pt all $out $log.eval > $log.eval 2>&1
    else
      python evaluate.py run --checkpoint $run/checkpoint.pt --archs all --episodes 5 --threads 1 --out-dir $out > $log.eval 2>&1
    fi
    picks=$(python -c "import json; r = json.load(open('$out/report.json'))['levels']; print(';'.join(','.join(map(str, r[k]['arch'])) for k in r))")
    python evaluate.py run --checkpoint $run/checkpoint.pt --archs "$picks;256,256" --episodes 20 --seed 1000 --threads 1 \
      --out-dir ${out}_picks > $log.picks 2>&1
  else
    python evaluate.py run --checkpoint $run/checkpoint.pt --episodes 20 --seed 1000 --threads 1 --out-dir $out > $log.eval 2>&1
  fi
}
# (they ran from a queue, two at a time, each taking the next when one finished: Hopper 1 and 3 GHP; issue 40's runs
# below; Hopper 3 baseline; then Walker2d 2 GHP and baseline, 3 GHP and baseline. The Hopper GHP evaluations were
# stopped with a machine and continued from their CSVs; the Hopper 3 baseline from its 10k checkpoint; Walker2d 2 GHP
# and baseline from their 70k and 80k checkpoints when a session ended (resumed log lines equal the first but for speed).
# Walker2d 2's GHN was evaluated in two shards while Walker2d 3 GHP, started on the freed core, was paused. Walker2d 3
# GHP and baseline continued from their 220k and 200k checkpoints when the next session ended, side by side; its GHN was
# evaluated in two shards once both had finished.)
(seed_run Hopper-v4 1 ghp; seed_run Hopper-v4 3 baseline; seed_run Walker2d-v4 2 baseline; seed_run Walker2d-v4 3 ghp shards) &
(seed_run Hopper-v4 3 ghp; seed_run Walker2d-v4 2 ghp shards; seed_run Walker2d-v4 3 baseline) &
wait
# (copied into docs/results/seeds/ with their logs), then the aggregate over seeds: IQM and 95% bootstrap intervals,
# Table II per seed, the claims table
python docs/aggregate_seeds.py --spec docs/results/seeds.json > docs/results/seeds.md

# ---- Issue 40 item 4: what three of the authors' choices change, one seed, cheaply, side by side (commit bcf36ad;
# docs/method.md S1, S3, D1). Hopper-v4 GHP at 100k env steps with the seeds' command (lowrank, compiled, steps_per_arch
# 50, probes every 10k x 3 episodes) plus --log-std-clamp or --reset-all-envs; today's defaults are the 100k snapshot of
# the issue-36 seed-1 run (the same command: no setting depends on --total-timesteps). Each 100k GHN on a seeded 500
# archs x 5 episodes. FetchReach with the authors' schedule as `reach_rollouts 1 authors` above (160k env steps), tanh
# (today's default) against --raw-actor, each on every arch of 1-3 hidden layers and a seeded 500, 5 episodes, both
# success measures (issue 40 item 3).
hopper40() {  # hopper40 NAME FLAGS...
  local name=$1; shift
  python ghp_sac.py --env-id Hopper-v4 --seed 1 --total-timesteps 100000 --eval-every 10000 --eval-episodes 3 --save-every 10000 \
    --steps-per-arch 50 --ghn-decoder lowrank --compile --threads 1 --no-cuda --runs-dir $RESULTS/issue40 --exp-name $name "$@" \
    >> $RESULTS/logs/issue40_hopper_$name.log 2>&1
  evaluate_checkpoint $(ckpt $RESULTS/issue40/Hopper-v4__${name}__1)/checkpoint.pt issue40_Hopper-v4_${name}_random500 --archs random:500 --episodes 5
}
reach40() {  # reach40 NAME FLAGS...
  local name=$1 shallow; shift
  python ghp_ddpg_her.py --env-id FetchReach-v4 --seed 1 --eval-archs 20 --ghn-decoder lowrank --threads 1 --no-cuda --rollouts-per-cycle 8 \
    --cycles-per-epoch 10 --epochs 5 --runs-dir $RESULTS/issue40 --exp-name $name "$@" > $RESULTS/logs/issue40_reach_$name.log 2>&1
  shallow=$(python -c "import archspace; print(';'.join(','.join(map(str, a)) for a in archspace.all_archs() if len(a) < 4))")
  evaluate_checkpoint $(ckpt $RESULTS/issue40/FetchReach-v4__${name}__1)/checkpoint.pt issue40_FetchReach-v4_${name}_shallow --archs "$shallow" --episodes 5
  evaluate_checkpoint $(ckpt $RESULTS/issue40/FetchReach-v4__${name}__1)/checkpoint.pt issue40_FetchReach-v4_${name}_random500 --archs random:500 --episodes 5
}
hopper40 log_std_clamp --log-std-clamp &
hopper40 reset_all_envs --reset-all-envs &
wait
evaluate_checkpoint $(ckpt $RESULTS/seeds/Hopper-v4__ghp__1)/ghn_100000.pt issue40_Hopper-v4_default_random500 --archs random:500 --episodes 5
reach40 tanh
reach40 raw_actor --raw-actor
python docs/plot_curves.py --runs $(ckpt $RESULTS/seeds/Hopper-v4__ghp__1) $(ckpt $RESULTS/issue40/Hopper-v4__log_std_clamp__1) \
  $(ckpt $RESULTS/issue40/Hopper-v4__reset_all_envs__1) --tags eval/return_ --max-step 100000 --out docs/results/issue40_hopper100k_curves.png \
  --title "Hopper-v4, GHP lowrank, seed 1, 100k env steps: defaults, --log-std-clamp, --reset-all-envs" > docs/results/issue40_hopper100k_curves.md
python docs/plot_curves.py --runs $(ckpt $RESULTS/issue40/FetchReach-v4__tanh__1) $(ckpt $RESULTS/issue40/FetchReach-v4__raw_actor__1) \
  --tags charts/test_success_rate charts/test_success_any_step eval/success_ --ylabel "success rate" --out docs/results/issue40_reach_curves.png \
  --title "FetchReach-v4, GHP lowrank, seed 1, 160k env steps: tanh vs --raw-actor" > docs/results/issue40_reach_curves.md
# Issue 40 item 3: FetchReach's Table I GHN retrained with today's code and its command (`reach_schedule steps_per_arch4`,
# 100k env steps; its first checkpoint is gone), every arch x 5 episodes with both success measures
python ghp_ddpg_her.py --rollouts-per-cycle 1 --env-id FetchReach-v4 --seed 1 --epochs 5 --eval-archs 20 --ghn-decoder lowrank --threads 1 \
  --no-cuda --runs-dir $RESULTS/issue40 --exp-name steps_per_arch4 --steps-per-arch 4 > $RESULTS/logs/issue40_reach_steps_per_arch4.log 2>&1
evaluate_checkpoint $(ckpt $RESULTS/issue40/FetchReach-v4__steps_per_arch4__1)/checkpoint.pt issue40_FetchReach-v4_steps_per_arch4 --episodes 5
# ---- Issue 47: the GHN's codes at rms 1 (every seed starts at He / 0.1 LeCun; commit 2c5b4b8). Hopper-v4 GHP at 100k
# env steps, seed 1, with hopper40's command, against issue 40's defaults row (the old start), then the seeded 500 archs
python ghp_sac.py --env-id Hopper-v4 --seed 1 --total-timesteps 100000 --eval-every 10000 --eval-episodes 3 --save-every 10000 \
  --steps-per-arch 50 --ghn-decoder lowrank --compile --threads 1 --no-cuda --runs-dir $RESULTS/issue47 --exp-name code_norm \
  > $RESULTS/logs/issue47_hopper_code_norm.log 2>&1
evaluate_checkpoint $(ckpt $RESULTS/issue47/Hopper-v4__code_norm__1)/checkpoint.pt issue47_Hopper-v4_code_norm_random500 --archs random:500 --episodes 5
python docs/plot_curves.py --runs $(ckpt $RESULTS/issue47/Hopper-v4__code_norm__1) --tags eval/return_ --max-step 100000 \
  --out docs/results/issue47_hopper100k_curves.png \
  --title "Hopper-v4, GHP lowrank, seed 1, 100k env steps, codes at rms 1 (issue 47)" > docs/results/issue47_hopper100k_curves.md
# ---- Issue 46: the Fetch tasks under the HER reference's replay (docs/method.md): 8 MPI workers' averaged gradients in
# one process for Push and Slide (--rollouts-per-cycle 2 --batch-size 2048: 16 episodes and 40 updates of 2,048 per
# cycle, 40k env steps an epoch), 16 workers' for PickAndPlace (4, 4096: 80k an epoch); tests of 80 episodes (baseline)
# or 80 random archs (GHP). Run in chunks of 5 epochs, each continuing the last exactly; a baseline stops once its test
# success has held >= 0.9 for three epochs (the Push baseline, stopped by hand after epoch 15, ran at b89279e; the rest
# at fd48ba0). Two at a time: the seed-1 baselines, Slide's GHP, then Push seed 3's GHP in one slot; the other seed-1 GHP
# runs, then Push seeds 2-3's baselines and seed 2's GHP in the other.
her46_held() { [ $(grep -o "test_success([a-z ]*)=[0-9.]*" $1 | tail -n 3 | awk -F= '$2 >= 0.9' | wc -l) -eq 3 ]; }
her46() {  # her46 ENV NAME WORKERS EPOCHS yes|no SEED FLAGS...: train in 5-epoch chunks (yes: stop once held >= 0.9)
  local env=$1 name=$2 workers=$3 epochs=$4 stop=$5 seed=$6 target dir log=$RESULTS/logs/issue46_$1_$2$([ $6 = 1 ] || echo _s$6).log
  shift 6
  for target in $(seq 5 5 $epochs); do
    dir=$(ls -d $RESULTS/issue46/${env}__${name}__${seed}__* 2>/dev/null | tail -n 1)
    if [ -n "$dir" ]; then
      [ $stop = yes ] && her46_held $log && return 0
      python ghp_ddpg_her.py --resume $dir/checkpoint.pt --epochs $target >> $log 2>&1
    else
      python ghp_ddpg_her.py --env-id $env --seed $seed --meta-batch 8 --rollouts-per-cycle $((workers / 4)) \
        --batch-size $((256 * workers)) --epochs $target --eval-archs 80 --threads 1 --no-cuda --runs-dir $RESULTS/issue46 \
        --exp-name $name "$@" >> $log 2>&1
    fi
  done
}
(her46 FetchPush-v4 baseline 8 50 yes 1 --baseline-arch 256,256
 her46 FetchPickAndPlace-v4 baseline 16 25 yes 1 --baseline-arch 256,256
 her46 FetchSlide-v4 baseline 8 50 yes 1 --baseline-arch 256,256
 her46 FetchSlide-v4 ghp_lowrank 8 50 no 1 --ghn-decoder lowrank
 her46 FetchPush-v4 ghp_lowrank 8 50 no 3 --ghn-decoder lowrank) &
(her46 FetchPush-v4 ghp_lowrank 8 50 no 1 --ghn-decoder lowrank
 her46 FetchPickAndPlace-v4 ghp_lowrank 16 25 no 1 --ghn-decoder lowrank
 her46 FetchPush-v4 baseline 8 50 yes 2 --baseline-arch 256,256  # seeds 2 and 3 of Push (item 5), all at fd48ba0
 her46 FetchPush-v4 baseline 8 50 yes 3 --baseline-arch 256,256
 her46 FetchPush-v4 ghp_lowrank 8 50 no 2 --ghn-decoder lowrank) &
wait
for task in FetchPush-v4 FetchPickAndPlace-v4 FetchSlide-v4; do  # each baseline on 20 fresh episodes
  evaluate_fresh $(ckpt $RESULTS/issue46/${task}__baseline__1) issue46_${task}_baseline_fresh20
done
evaluate_fresh $(ckpt $RESULTS/issue46/FetchPush-v4__baseline__2) issue46_FetchPush-v4_baseline_s2_fresh20
evaluate_fresh $(ckpt $RESULTS/issue46/FetchPush-v4__baseline__3) issue46_FetchPush-v4_baseline_s3_fresh20  # (stopped by hand at 17, see results.md)
# Push GHP, the epoch-21 snapshot: a seeded 60 of the 584 archs with 1-3 hidden layers, 5 episodes each
evaluate_checkpoint $(ckpt $RESULTS/issue46/FetchPush-v4__ghp_lowrank__1)/ghn_epoch21.pt issue46_FetchPush-v4_ghp_epoch21_shallow60 \
  --episodes 5 --archs "8;32;64;4,4;4,64;8,4;8,16;8,128;32,512;64,128;128,8;512,256;4,16,128;4,32,8;8,4,256;8,8,32;8,8,512;8,32,16;8,64,4;16,16,4;16,16,64;16,32,32;16,64,256;32,4,8;32,4,128;32,4,256;32,32,256;32,64,64;32,64,512;32,128,4;32,128,8;32,512,256;64,4,512;64,8,256;64,16,32;64,32,8;64,64,256;64,128,16;64,256,32;64,256,256;128,4,8;128,4,256;128,8,64;128,32,256;128,128,16;128,128,512;128,256,128;128,256,256;256,8,16;256,8,128;256,8,512;256,32,8;256,64,8;256,256,64;512,4,32;512,64,8;512,128,16;512,256,4;512,512,4;512,512,64"
her46_ghp_eval() {  # her46_ghp_eval TASK SEED EPOCH PICKS SMALL100 PICKS2 [EPISODES]: the GHP run's ghn_epochEPOCH.pt, all
  # 4680 archs x EPISODES (5; seeds 0..), into ..._epochEPOCH (_epEPISODES if not 5; _sSEED if not seed 1); PICKS (its
  # report's max/90%/80%) and the generated [256,256] on 20 fresh episodes (seeds 1000..1019); SMALL100, the 100
  # smallest archs that succeed in every episode, on those 20; PICKS2, that sample's picks, on 20 more (seeds
  # 2000..2019). /work/runs/ghp_eval.sh TASK EPOCH [EPISODES [SEED]] derived PICKS, SMALL100 and PICKS2 as it went.
  local ghn=$(ckpt $RESULTS/issue46/$1__ghp_lowrank__$2)/ghn_epoch$3.pt
  local name=issue46_$1_ghp_epoch$3${7:+_ep$7}$([ $2 = 1 ] || echo _s$2)
  evaluate_shards $ghn all $RESULTS/eval300k/$name $RESULTS/logs/eval300k_$name ${7:-5}
  evaluate_checkpoint $ghn ${name}_picks --episodes 20 --seed 1000 --archs "$4;256,256"
  [ -n "$5" ] || return 0  # (no arch succeeds in every episode)
  evaluate_checkpoint $ghn ${name}_small100 --episodes 20 --seed 1000 --archs "$5"
  evaluate_checkpoint $ghn ${name}_small100_picks_fresh --episodes 20 --seed 2000 --archs "$6"
}
her46_ghp_eval FetchPush-v4 1 30 "64,4,64,8;64,4,16,8" \
  "64,4,64,8;64,16,16,4;64,4,16,64;64,4,64,16;64,32,4,16;64,16,64;64,32,4,32;64,32,8,16;64,32,8,32;64,16,32,32;64,4,64,32;64,16,8,128;64,32,8,64;64,16,64,16;64,32,16,32;64,32,32,8;64,32,32,16;64,16,128,4;64,16,32,64;64,32,16,64;64,16,16,128;64,32,8,128;64,16,128,8;64,32,32,32;64,32,64;64,32,64,4;64,16,8,256;64,64,4,32;64,32,64,8;64,64,4,64;64,64,8,32;64,64,16,4;64,32,16,128;64,32,64,16;64,32,32,64;64,64,8,64;64,64,16,16;64,64,4,128;64,32,8,256;64,64,16,32;64,64,8,128;64,64,32,4;64,32,64,32;128,32,4,32;64,64,32,8;64,64,16,64;64,64,4,256;64,32,128;64,64,32,16;64,32,128,4;256,4,32,8;64,32,128,8;64,64,32,32;256,4,64,8;256,8,4,4;256,8,16;64,16,8,512;256,8,16,4;64,32,32,128;64,64,16,128;256,4,32,32;64,32,16,256;64,64,8,256;256,4,64,16;256,8,32;256,8,32,4;256,8,16,16;256,8,4,64;256,4,8,128;256,4,128,8;128,32,64,4;64,32,128,16;256,8,16,32;256,8,64;256,8,64,4;256,8,32,16;64,64,64,4;64,32,64,64;64,64,32,64;256,8,64,8;256,8,4,128;64,64,64,8;256,4,256,4;64,32,8,512;256,8,32,32;256,8,16,64;64,128,4,32;256,4,64,32;256,8,128;256,8,64,16;256,8,128,4;256,4,16,128;256,4,128,16;64,4,64,128;64,128,4,64;64,64,64,16;64,128,8,32;256,16,4,16;256,4,8,256;256,4,256,8" \
  "64,32,64,4;64,32,4,32;64,32,4,16;64,4,64,8"  # (1.2M env steps, while the run went on; the first pick once more)
her46_ghp_eval FetchPush-v4 1 50 "16,16,16;8,16,16" \
  "16,16,16;16,16,16,8;16,16,32;16,16,32,4;16,16,32,8;32,16,8,4;32,16,8,8;16,8,64,8;32,16,16;32,16,8,16;32,16,16,4;16,16,32,16;32,16,16,8;16,16,4,128;16,16,64,4;32,16,32,4;32,16,32,8;16,16,16,64;16,16,64,8;32,16,16,32;64,8;64,8,4;64,8,4,4;16,16,32,32;64,8,8;64,8,4,8;64,8,8,4;64,8,8,8;64,8,4,16;64,8,16;32,16,32,16;32,32,16,4;64,8,16,4;16,32,32,16;64,8,8,16;64,8,16,8;64,8,4,32;64,8,32;64,8,32,4;32,16,64,4;32,32,16,16;64,8,16,16;64,8,8,32;16,32,16,64;64,8,32,8;64,16,4;64,8,4,64;64,16,4,4;64,16,4,8;64,16,8;32,16,16,64;64,16,8,4;64,16,4,16;64,16,8,8;16,128,4;32,16,32,32;32,32,16,32;16,128,4,4;64,8,16,32;64,8,64;16,128,4,8;64,8,64,4;64,16,16;64,16,8,16;64,16,4,32;64,16,16,4;64,8,32,16;64,8,8,64;16,128,4,16;32,64,4,4;64,16,16,8;32,64,4,8;16,32,64,4;16,16,128;16,16,128,4;16,128,4,32;32,64,4,16;64,16,8,32;64,8,64,8;64,16,16,16;64,16,4,64;64,8,4,128;64,16,32;32,64,4,32;64,16,32,4;32,64,8;32,64,8,4;32,32,32,16;32,16,64,16;32,64,8,8;16,32,64,8;16,16,16,128;16,128,4,64;64,16,32,8;32,64,8,16;64,16,16,32;64,8,32,32;32,32,16,64;64,8,16,64;64,16,8,64" \
  "16,16,16,64;16,16,16,8"  # (2M env steps, the run's end; /work/runs/push50.sh, ghp_eval.sh's first form)
her46_ghp_eval FetchPush-v4 2 50 "8,32,16,4;16,8,8,4" \
  "8,32,16,4;16,32,4;16,32,4,4;16,32,4,8;8,16,32,8;8,32,16,8;16,32,4,16;32,8,4,8;16,32,8;32,8,8,4;16,32,8,4;8,64,4,32;32,8,8,8;16,32,8,8;16,16,32;16,16,32,4;16,32,4,32;8,64,8,8;32,8,8,16;16,32,8,16;8,16,32,16;32,8,4,32;32,16,4;32,16,4,8;16,32,16;16,32,16,4;8,64,4,64;32,16,8,4;16,32,8,32;32,16,8,8;16,32,16,8;16,32,4,64;8,32,32,4;32,8,32,8;32,8,4,64;32,16,4,32;16,64,4;16,64,4,4;16,64,4,8;8,128,4;16,64,4,16;8,128,4,8;32,8,16,32;32,16,8,32;8,128,4,16;32,8,32,16;16,64,4,32;32,16,4,64;16,64,8;16,32,8,64;32,32;16,64,8,4;32,32,4;32,16,32,4;64,4,4;16,64,8,8;8,128,4,32;32,32,4,8;16,32,32;16,32,16,32;64,4,8,4;16,32,32,4;64,4,16;32,32,4,16;64,4,8,8;16,64,8,16;64,4,4,16;64,4,16,4;16,8,128,4;16,32,4,128;32,16,32,8;32,32,8,4;32,8,64,8;32,32,8,8;16,32,32,8;64,4,8,16;64,4,16,8;16,16,64,8;16,64,4,64;64,4,32;32,32,4,32;64,8;32,16,8,64;64,4,4,32;64,4,32,4;64,8,4;64,8,4,4;32,32,8,16;8,128,4,64;64,8,8;64,8,4,8;16,64,8,32;64,8,8,4;64,4,16,16;64,8,8,8;64,8,4,16;64,4,8,32;64,4,32,8;32,32,16;64,8,16" \
  "16,32,4,8;16,32,4;8,32,16,4"  # (seed 2, item 5: 2M, the run's end; ghp_eval.sh FetchPush-v4 50 5 2)
her46_ghp_eval FetchPush-v4 3 50 "32,8,16,32;16,32,4,32" \
  "32,8,16,32;64,4,4,8;64,4,8,8;64,4,4,16;64,4,16,4;64,4,8,16;64,4,16,8;32,16,16,32;64,4,4,32;64,4,32,4;64,8,4,4;64,8,4,8;64,8,8,4;64,4,16,16;64,4,8,32;64,8,16,4;64,8,16,8;64,8,4,32;64,4,4,64;64,4,64,4;64,8,32,4;64,8,16,16;64,8,8,32;64,4,16,32;64,8,32,8;64,4,8,64;64,4,64,8;64,8,4,64;64,16,4,4;64,16,4,16;32,32,32,4;64,8,16,32;64,8,64,4;64,16,8,16;64,16,4,32;64,16,16,4;64,8,32,16;64,8,8,64;64,4,4,128;64,4,128,4;32,32,32,8;32,64,4,4;64,16,16,8;32,64,4,8;32,64,4,16;64,16,8,32;64,4,32,32;64,8,64,8;64,16,16,16;64,4,64,16;64,16,4,64;64,8,4,128;32,64,4,32;64,16,32,4;32,32,32,16;64,16,32,8;64,4,8,128;64,4,128,8;64,16,16,32;64,8,32,32;32,32,16,64;64,8,16,64;64,16,8,64;32,64,4,64;32,8,64,32;32,64,8,32;64,16,32,16;64,8,64,16;64,8,128,4;64,32,4,4;64,16,4,128;32,64,16,4;64,32,4,16;32,32,32,32;64,16,64;64,32,8,4;64,16,64,4;128,4,4,4;128,4,4,8;128,4,8,4;64,32,4,32;128,4,8,8;128,4,4,16;128,4,16,4;32,64,16,16;64,4,4,256;64,4,256,4;32,64,4,128;128,4,8,16;64,16,16,64;64,16,64,8;128,4,4,32;128,4,32,4;64,32,16,4;64,8,128,8;64,16,32,32;64,32,16,8;64,4,32,64;64,4,64,32;64,32,4,64" \
  "64,4,4,16;64,4,8,8;64,4,4,8"  # (seed 3, item 5: 2M, the run's end; ghp_eval.sh FetchPush-v4 50 5 3)
her46_ghp_eval FetchPickAndPlace-v4 1 18 "32,16,4,16" "" ""  # (1.44M env steps, while the run went on; no arch 5 of 5)
her46_ghp_eval FetchPickAndPlace-v4 1 25 "256,16,64,64;256,16,16,32;128,4,32,32" "" "" 20  # (2M, the run's end: every arch
# on 20 episodes, as 5 held 1 table goal; no arch succeeds in all 20, so no second stage)
her46_ghp_eval FetchSlide-v4 1 50 "128,32,256,8;64,64,8,64" \
  "128,32,256,8;64,256,16,64;128,64,128,32;512,32,4,128;512,16,16,512;512,32,16,512;256,128,8,256;256,16,64,512;256,32,128,256;256,128,128;512,64,128,64;512,32,512,32;128,256,128;256,256,8,4;128,512,4,512;256,256,16,4;64,64,128,512;512,128,8,128;512,128,16,256;512,64,512,16;128,128,512,8;512,128,64,128;512,128,64,256;256,128,512,16;512,128,512;256,16,256,512;256,256,128,512;512,256,128,64;256,512,128,16;256,256,512,8;512,512,4,512;512,512,16,64;512,32,512,512;512,512,64,64" \
  "256,256,128,512;256,16,64,512"  # (2M, the run's end; 34 archs with 5 of 5, all of them the second stage)
# Each task's two learning curves (test success against env steps; the GHP's averages one episode of each of 80 random archs)
# (Push: seeds 1-3, each curve their mean to the shortest seed's end, min..max shaded)
for task in Push:8:3 PickAndPlace:16:1 Slide:8:1; do
  IFS=: read t workers seeds <<< $task
  runs="" && for s in $(seq $seeds); do runs+=" $(ckpt $RESULTS/issue46/Fetch$t-v4__baseline__$s) $(ckpt $RESULTS/issue46/Fetch$t-v4__ghp_lowrank__$s)"; done
  [ $seeds = 1 ] && which="seed 1" || which="seeds 1-$seeds"
  python docs/plot_curves.py --runs $runs --tags 'charts/test_success_rate$' --ylabel "test success (final step)" --levels 0.5 0.9 \
    --out docs/results/issue46_${t,,}_curves.png --title "Fetch$t-v4, $workers-worker HER replay, $which: baseline / GHP (80 random archs)" \
    > docs/results/issue46_${t,,}_curves.md
done
