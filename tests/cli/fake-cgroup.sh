# Sourced by the cli tests on a fake cgroup tree (set -eu already on).  Sets
# tmp (removed at exit, the background $pid killed first), fail(), r (the
# fake root) and cg (its cgroup2 mount): cg and its child app, where "this
# process" lives, with the cpuset, cpu and memory controllers and CPUs 0-7.
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "not ok: $*"; exit 1; }

r=$tmp/root
cg=$r/sys/fs/cgroup
mkdir -p "$r/proc/self" "$cg/app"
echo '30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw' > "$r/proc/self/mountinfo"
echo '0::/app' > "$r/proc/self/cgroup"
for d in "$cg" "$cg/app"; do
        echo 'cpuset cpu memory' > "$d/cgroup.controllers"
        echo '0-7' > "$d/cpuset.cpus.effective"
done
