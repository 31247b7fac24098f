#!/usr/bin/env bash
# Unattended Cursor BYOK onboarding: apply a team manifest for the logged-in user.
# A fleet tool (MDM, Ansible, a login hook) runs this as the user who owns Cursor.
#
#   onboard-example.sh [MANIFEST]        (default: ./team.toml)
#
# Environment:
#   CURSOR_BYOK              the command to run (default: cursor-byok)
#   CURSOR_BYOK_WAIT         seconds to wait for Cursor to exit (default: 0, do not wait)
#   CURSOR_BYOK_ON_CONFLICT  keep (default: fill gaps, never overwrite what the
#                            developer set), replace (enforce the manifest) or fail.
#   CURSOR_BYOK_ALLOW_ENDPOINT  hosts, space-separated, the manifest may send prompts,
#                            code and keys to (its gateway, Azure resource, Bedrock
#                            region): a new endpoint is accepted only by name, never by
#                            replace (read by cursor-byok itself, as --allow-endpoint).
#   CURSOR_BYOK_LOG          log file (default: stderr); it never gets a key
#   CURSOR_BYOK_CHECK        1: only check for drift (apply --check), write nothing
#   the variables the manifest's env: sources name, and any of CURSOR_USER_DATA_DIR,
#   CURSOR_STATE_DB, CURSOR_BYOK_SAFE_STORAGE to pick the Cursor and its safe storage.
#
# Exit status: 0 applied, nothing to do, or no Cursor for this user;
# 75 Cursor is running, retry later; 17 (with CURSOR_BYOK_CHECK=1) drift:
# changes or conflicts pending; otherwise cursor-byok's own exit code.
# Stored values that differ from the manifest and were kept (on-conflict keep)
# are logged as "kept": drift the developer chose, not an error.

set -u -o pipefail

manifest=${1:-team.toml}
read -r -a byok <<<"${CURSOR_BYOK:-cursor-byok}"
wait_seconds=${CURSOR_BYOK_WAIT:-0}
policy=${CURSOR_BYOK_ON_CONFLICT:-keep}
check=${CURSOR_BYOK_CHECK:-0}
log_file=${CURSOR_BYOK_LOG:-/dev/stderr}

log() { printf '%s onboard: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >>"$log_file"; }

out=$(mktemp) && err=$(mktemp) || exit 1
trap 'rm -f "$out" "$err"' EXIT

# The summary of the --json document: counts, changed field names, journal id. No values.
summary() {
    python3 - "$out" <<'PY'
import json, sys
try:
    doc = json.load(open(sys.argv[1], encoding="utf-8"))
except ValueError:
    sys.exit(0)
plan = doc.get("plan", {})
print(json.dumps({
    "db": doc.get("db"),
    "applied": doc.get("applied"),
    "journal": doc.get("journal"),
    "summary": plan.get("summary"),
    "fields": [f"{c['field']}:{c['action']}" for c in plan.get("changes", [])],
    "kept": [c["field"] for c in plan.get("changes", []) if c["action"] == "kept"],
    "warnings": doc.get("warnings", []),
}))
PY
}

args=(apply "$manifest" --yes --json --on-conflict "$policy")
[ "$wait_seconds" != 0 ] && args+=(--wait "$wait_seconds")
[ "$check" = 1 ] && args+=(--check)

# stdin from /dev/null: unattended, so a `prompt` source fails instead of hanging.
"${byok[@]}" "${args[@]}" >"$out" 2>"$err" </dev/null
rc=$?
reason=$(grep -m1 'error:' "$err" | sed 's/^cursor-byok: error: //')

case $rc in
0)
    grep -E '^(warning|note):' "$err" | while IFS= read -r line; do log "$line"; done
    done_summary=$(summary)
    log "done: $done_summary"
    case $done_summary in
    '' | *'"kept": []'*) ;;
    *) log "kept: stored values that differ from the manifest stayed (see \"kept\" above); CURSOR_BYOK_ON_CONFLICT=replace enforces the manifest" ;;
    esac
    exit 0 ;;
17)
    log "drift: changes or conflicts pending, nothing was written: $(summary)" ;;
3)
    log "skipped: no Cursor installation for this user ($reason)"
    exit 0 ;;
6)
    log "Cursor is running; nothing was written, retry later ($reason)"
    exit 75 ;;
11)
    log "conflict: stored values differ from the manifest; nothing was written: $(summary)"
    log "set CURSOR_BYOK_ON_CONFLICT=replace to enforce the manifest, or keep to fill gaps only; a new base URL, Azure resource or Bedrock region needs its host in CURSOR_BYOK_ALLOW_ENDPOINT" ;;
15)
    log "manifest or key source problem, or an unsafe base URL; nothing was written: $reason" ;;
7 | 8)
    log "cannot use this machine's safe storage; nothing was written: $reason" ;;
12)
    log "the write did not verify: $reason" ;;
*)
    log "failed with exit status $rc: ${reason:-no error message}" ;;
esac
exit "$rc"
