# Shared by report.sh, growth.sh and targets.sh (sourced, not run).

# load prints the load average, for the machine notes of a run.
load() { uptime | sed 's/.*load average/load average/'; }

# arbor_at ROOT prints "Arbor at commit HASH" for the checkout ROOT, with
# " with uncommitted changes" when its tracked files differ. Call it before
# a run rewrites its tracked results files, or they count as changes.
arbor_at() {
  dirty=$(git -C "$1" status --porcelain --untracked-files=no | grep -q . && echo " with uncommitted changes" || true)
  echo "Arbor at commit $(git -C "$1" rev-parse --short HEAD)$dirty"
}

# runs_of FILE prints the run count of FILE's join line (mls bench output),
# for --regenerate.
runs_of() { sed -n '/"op":"join"/{s/.*"runs":\([0-9]*\).*/\1/p;q;}' "$1"; }

# replace_section DOC NAME GEN puts the contents of the file GEN between
# the lines <!-- NAME:begin --> and <!-- NAME:end --> of DOC.
replace_section() {
  awk -v gen="$3" -v name="$2" '
    $0 == "<!-- " name ":end -->" { skip = 0 }
    !skip { print }
    $0 == "<!-- " name ":begin -->" { while ((getline line < gen) > 0) print line; close(gen); skip = 1 }
  ' "$1" > "$1.new"
  mv "$1.new" "$1"
}
