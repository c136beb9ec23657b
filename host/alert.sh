#!/usr/bin/env bash
# housing-portal: tell a person when a backup job fails, once, and once more when it recovers.
#
# Installed on the host as /usr/local/sbin/housing-portal-alert and run as the ExecStopPost= of
# every backup unit (snapshot, dump, off-site copy, restore check, freshness check), so it runs
# after each run of the unit however it ended: with an exit status, a timeout or a signal
# (systemd sets SERVICE_RESULT, EXIT_CODE and EXIT_STATUS for it).
#
# What it tells, per CHECK and per item of it (one state file each in STATE_DIR): an item is what
# a run judged, an instance ("chile") or a host-level thing ("dump:chile", "offsite" in the
# freshness check); the run as a whole is the item "-". The script the unit ran lists its items
# in FINDINGS_FILE (see below); a run that listed none (killed, timed out, a bad setting, a check
# that is host-level only: the snapshot, the off-site copy) is judged as a whole by how the unit
# ended. For every item:
#   - a failure when the item was not failing: posts one message naming the stack, the host, the
#     machine, the check, the item (the instance), since when it fails and its last success, and
#     what failed; a failure while the item already failed and was reported posts nothing;
#   - a success after a reported failure: posts one recovery message naming the item;
#   - an item that failed and is no longer among the results (an instance removed from the
#     config): one message that it is no longer checked;
#   - a message that could not be posted is not recorded as posted: the next run tries again.
# So instance A fails: one message; B fails while A still fails: one message naming B; A recovers:
# one; B recovers: one.
# FINDINGS_FILE, written by the script (atomically) when it knows every item's result:
#   invocation <its INVOCATION_ID, or ->      first line; used only when it is this invocation's
#   <item><TAB><ok|fail><TAB><what happened>  one line per item; item: [a-z0-9][a-z0-9:._-]*, or -
# With findings and no "-" line, the run as a whole failed only when the unit failed and no item
# did (the script died after listing them).
# Messages go to the webhook in WEBHOOK_URL_FILE (a JSON body with "text" and "content", which
# Slack, Microsoft Teams and Discord incoming webhooks accept) and, with SNS_TOPIC_ARN, to that
# SNS topic: curl signs the Publish request (--aws-sigv4) with the machine's instance-role
# credentials from the metadata service (IMDSv2). Without either, the message is only logged. The
# URL and the credentials are secrets: they are handed to curl in private config files, never on
# a command line.
#
# Settings (environment):
#   CHECK                 required. What ran: snapshot, dump, offsite, restore-check, backup-status.
#   RESULT                default from SERVICE_RESULT ("success" is ok, anything else fail).
#                         "ok" or "fail".
#   SUMMARY               default the last line this unit invocation logged (JOURNALCTL,
#                         INVOCATION_ID), else how the unit ended.
#   STACK                 default "unknown". The Pulumi stack, named in every message.
#   HOST_NAME             default "main". The stack's name for the host.
#   MACHINE               default $(hostname). The machine's own name.
#   WEBHOOK_URL_FILE      default /etc/housing-portal/alert-webhook-url. A missing file: no webhook.
#   SNS_TOPIC_ARN         default empty. An SNS topic to publish to as well (aws).
#   SNS_REGION            default the region in SNS_TOPIC_ARN.
#   SNS_ENDPOINT          default https://sns.$SNS_REGION.amazonaws.com (tests: a loopback server).
#   IMDS_URL              default http://169.254.169.254 (tests: a loopback server).
#   STATE_DIR             default /var/lib/housing-portal/alerts.
#   FINDINGS_FILE         default empty (the run as a whole only). The results per item of the
#                         run this follows; the unit sets it for its script and for this.
#   INVOCATION_ID         set by systemd: the findings must name the same invocation.
#   POST_TIMEOUT_SECONDS  default 20. Upper bound of each post.
#   JOURNALCTL            default journalctl (tests put a shim here).
#
# Exit status: 0 when nothing had to be posted or it was posted; 1 when a post failed; 2 on a
# bad setting.
set -euo pipefail

readonly PROG=alert
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
usage_error() { printf '%s: invalid setting: %s\n' "$PROG" "$*" >&2; exit 2; }

CHECK="${CHECK:-}"
RESULT="${RESULT:-}"
SUMMARY="${SUMMARY:-}"
STACK="${STACK:-unknown}"
HOST_NAME="${HOST_NAME:-main}"
MACHINE="${MACHINE:-$(hostname 2>/dev/null || echo unknown)}"
WEBHOOK_URL_FILE="${WEBHOOK_URL_FILE:-/etc/housing-portal/alert-webhook-url}"
SNS_TOPIC_ARN="${SNS_TOPIC_ARN:-}"
SNS_REGION="${SNS_REGION:-}"
SNS_ENDPOINT="${SNS_ENDPOINT:-}"
IMDS_URL="${IMDS_URL:-http://169.254.169.254}"
STATE_DIR="${STATE_DIR:-/var/lib/housing-portal/alerts}"
FINDINGS_FILE="${FINDINGS_FILE:-}"
POST_TIMEOUT_SECONDS="${POST_TIMEOUT_SECONDS:-20}"
JOURNALCTL="${JOURNALCTL:-journalctl}"

[[ "$CHECK" =~ ^[a-z][a-z-]{0,30}$ ]] || usage_error "CHECK must name the check (snapshot, dump, offsite, restore-check, backup-status), got '$CHECK'"
if [[ -z "$RESULT" ]]; then
  [[ -n "${SERVICE_RESULT:-}" ]] || usage_error "RESULT is empty and SERVICE_RESULT (set by systemd for ExecStopPost=) too"
  if [[ "$SERVICE_RESULT" == success ]]; then RESULT=ok; else RESULT=fail; fi
fi
[[ "$RESULT" == ok || "$RESULT" == fail ]] || usage_error "RESULT must be ok or fail, got '$RESULT'"
[[ "$STATE_DIR" == /* ]] || usage_error "STATE_DIR must be an absolute path, got '$STATE_DIR'"
[[ -z "$FINDINGS_FILE" || "$FINDINGS_FILE" == /* ]] || usage_error "FINDINGS_FILE must be an absolute path, got '$FINDINGS_FILE'"
[[ "$WEBHOOK_URL_FILE" == /* ]] || usage_error "WEBHOOK_URL_FILE must be an absolute path, got '$WEBHOOK_URL_FILE'"
is_count() { [[ "$1" =~ ^[0-9]+$ ]] && ((10#$1 >= 1)); }
is_count "$POST_TIMEOUT_SECONDS" || usage_error "POST_TIMEOUT_SECONDS must be a whole number >= 1"
[[ -z "$SNS_TOPIC_ARN" || "$SNS_TOPIC_ARN" =~ ^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+$ ]] || usage_error "SNS_TOPIC_ARN must be an SNS topic ARN, got '$SNS_TOPIC_ARN'"
if [[ -n "$SNS_TOPIC_ARN" && -z "$SNS_REGION" ]]; then SNS_REGION="$(cut -d: -f4 <<<"$SNS_TOPIC_ARN")"; fi
[[ -n "$SNS_ENDPOINT" ]] || SNS_ENDPOINT="https://sns.$SNS_REGION.amazonaws.com"
for tool in curl jq flock; do
  command -v "$tool" >/dev/null 2>&1 || { log "error: required tool '$tool' is not installed"; exit 1; }
done

if [[ -z "$SUMMARY" ]]; then
  # The run's own last line says what failed (every backup script ends with one).
  if [[ -n "${INVOCATION_ID:-}" ]] && command -v "$JOURNALCTL" >/dev/null 2>&1; then
    SUMMARY="$(timeout 10 "$JOURNALCTL" --quiet --no-pager -o cat "_SYSTEMD_INVOCATION_ID=$INVOCATION_ID" 2>/dev/null |
      grep -v "^$PROG: " | tail -n 1 || true)"
  fi
  if [[ -z "$SUMMARY" ]]; then
    if [[ "$RESULT" == ok ]]; then SUMMARY="the run succeeded"; else SUMMARY="the unit ended with ${SERVICE_RESULT:-a failure} (${EXIT_CODE:-?} ${EXIT_STATUS:-?})"; fi
  fi
fi
SUMMARY="${SUMMARY:0:1500}"

umask 077
mkdir -p "$STATE_DIR"
exec 9>>"$STATE_DIR/$CHECK.state.lock"
flock -w 60 9 || { log "error: another alert for $CHECK holds $STATE_DIR/$CHECK.state.lock"; exit 1; }
now="$(date -u +%Y-%m-%dT%H:%M:%SZ)"

# The state of an item: "status since last_ok notified" on one line; status ok|failing, times in
# UTC, notified 0|1. The run as a whole keeps the name it always had ($CHECK.state).
state_file() { if [[ "$1" == - ]]; then printf '%s/%s.state' "$STATE_DIR" "$CHECK"; else printf '%s/%s@%s.state' "$STATE_DIR" "$CHECK" "$1"; fi; }

save() { # save FILE STATUS SINCE LAST_OK NOTIFIED
  local file="$1" tmp
  shift
  tmp="$(mktemp "$file.XXXXXX")"
  printf '%s %s %s %s\n' "$@" >"$tmp"
  mv -f "$tmp" "$file"
}

post_webhook() { # post_webhook MESSAGE
  [[ -s "$WEBHOOK_URL_FILE" ]] || return 0
  local work rc=0 url
  work="$(mktemp -d)"
  url="$(head -n 1 "$WEBHOOK_URL_FILE")"
  [[ "$url" =~ ^https?://[^[:space:]\"]+$ ]] || { log "error: $WEBHOOK_URL_FILE does not hold an http(s) URL"; rm -rf "$work"; return 1; }
  # The URL is a secret: in a private config file, not on curl's command line.
  printf 'url = "%s"\n' "$url" >"$work/curl.conf"
  jq -cn --arg m "$1" '{text: $m, content: $m}' >"$work/body.json"
  curl --silent --show-error --fail --max-time "$POST_TIMEOUT_SECONDS" --connect-timeout 10 \
    --config "$work/curl.conf" -H 'Content-Type: application/json' --data-binary "@$work/body.json" \
    -o /dev/null 2>"$work/err" 9>&- || rc=$?
  ((rc == 0)) || log "error: the webhook post failed (curl exit $rc): $(head -c 300 "$work/err" | tr '\n' ' ')"
  rm -rf "$work"
  return "$rc"
}

post_sns() { # post_sns SUBJECT MESSAGE
  [[ -n "$SNS_TOPIC_ARN" ]] || return 0
  local work rc=0 token role
  work="$(mktemp -d)"
  # The instance role's temporary credentials, from IMDSv2 (a token first, then the role's keys).
  local c=(--silent --show-error --fail --max-time 5)
  if token="$(curl "${c[@]}" -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "$IMDS_URL/latest/api/token" 9>&-)" &&
    printf 'header = "X-aws-ec2-metadata-token: %s"\n' "$token" >"$work/imds.conf" &&
    role="$(curl "${c[@]}" --config "$work/imds.conf" "$IMDS_URL/latest/meta-data/iam/security-credentials/" 9>&- | head -n 1)" && [[ -n "$role" ]] &&
    curl "${c[@]}" --config "$work/imds.conf" "$IMDS_URL/latest/meta-data/iam/security-credentials/$role" -o "$work/creds.json" 9>&- &&
    jq -er '"user = \"\(.AccessKeyId):\(.SecretAccessKey)\"\nheader = \"x-amz-security-token: \(.Token)\""' "$work/creds.json" >"$work/sns.conf"; then
    curl --silent --show-error --fail --max-time "$POST_TIMEOUT_SECONDS" --connect-timeout 10 --config "$work/sns.conf" \
      --aws-sigv4 "aws:amz:$SNS_REGION:sns" --data-urlencode Action=Publish --data-urlencode Version=2010-03-31 \
      --data-urlencode "TopicArn=$SNS_TOPIC_ARN" --data-urlencode "Subject=${1:0:99}" --data-urlencode "Message=$2" \
      -o /dev/null "$SNS_ENDPOINT/" 2>"$work/err" 9>&- || rc=$?
    ((rc == 0)) || log "error: publishing to $SNS_TOPIC_ARN failed (curl exit $rc): $(head -c 300 "$work/err" | tr '\n' ' ')"
  else
    rc=1
    log "error: no instance-role credentials from the metadata service at $IMDS_URL; not published to $SNS_TOPIC_ARN"
  fi
  rm -rf "$work"
  return "$rc"
}

post() { # post SUBJECT MESSAGE: every channel; fails when one failed
  log "$2"
  local ok=0
  post_webhook "$2" || ok=1
  post_sns "$1" "$2" || ok=1
  return "$ok"
}

who="housing-portal $STACK/$HOST_NAME ($MACHINE)"
post_failed=0

judge() { # judge ITEM ok|fail TEXT: one message when ITEM starts or stops failing
  local item="$1" result="$2" text="$3" file status=ok since=- last_ok=- notified=0 what="$CHECK" for=""
  file="$(state_file "$item")"
  if [[ -s "$file" ]]; then read -r status since last_ok notified <"$file" || true; fi
  [[ "$item" == - ]] || for=" for $item"
  if [[ "$result" == fail ]]; then
    [[ "$status" == failing ]] || since="$now"
    if [[ "$status" == failing && "$notified" == 1 ]]; then
      log "$what$for still failing since $since; already reported"
      return 0
    fi
    local last="$last_ok"
    [[ "$last" != - ]] || last="none recorded"
    if post "$who: $what FAILED$for" "$who: $what FAILED$for since $since (last success: $last): $text"; then
      save "$file" failing "$since" "$last_ok" 1
    else
      save "$file" failing "$since" "$last_ok" 0
      post_failed=1
    fi
  else
    if [[ "$status" == failing && "$notified" == 1 ]]; then
      if ! post "$who: $what recovered$for" "$who: $what RECOVERED$for at $now after failing since $since: $text"; then
        post_failed=1 # still recorded as failing: the next successful run posts the recovery
        return 0
      fi
    fi
    save "$file" ok - "$now" 0
  fi
}

# The script's results per item, when they are this invocation's.
declare -A results=() texts=()
items=()
have_findings=0
if [[ -n "$FINDINGS_FILE" && -s "$FINDINGS_FILE" ]]; then
  first="$(head -n 1 "$FINDINGS_FILE")"
  if [[ "$first" == "invocation ${INVOCATION_ID:--}" ]]; then
    have_findings=1
    while IFS=$'\t' read -r item result text; do
      if [[ ! "$item" =~ ^(-|[a-z0-9][a-z0-9:._-]{0,80})$ || ( "$result" != ok && "$result" != fail ) ]]; then
        log "warning: ignoring a malformed line in $FINDINGS_FILE"
        continue
      fi
      [[ -n "${results[$item]:-}" ]] || items+=("$item")
      # One failed line makes the item fail.
      [[ "${results[$item]:-}" == fail ]] || { results[$item]="$result"; texts[$item]="${text:-$result}"; }
    done < <(tail -n +2 "$FINDINGS_FILE")
  else
    log "warning: $FINDINGS_FILE is not this run's ($first); judging the run as a whole"
  fi
fi

failed_items=0
for item in "${items[@]}"; do [[ "$item" == - || "${results[$item]}" != fail ]] || failed_items=$((failed_items + 1)); done
if ((have_findings)) && [[ -z "${results[-]:-}" ]]; then
  if [[ "$RESULT" == fail && $failed_items == 0 ]]; then
    results[-]=fail texts[-]="$SUMMARY"
  else
    results[-]=ok texts[-]="the run completes again: $((${#items[@]} - failed_items)) ok, $failed_items failed"
  fi
elif ((!have_findings)); then
  results[-]="$RESULT" texts[-]="$SUMMARY"
fi
judge - "${results[-]}" "${texts[-]}"
for item in "${items[@]}"; do
  [[ "$item" == - ]] || judge "$item" "${results[$item]}" "${texts[$item]}"
done

# An item that failed and is no longer among the results (an instance removed): closed once.
if ((have_findings)); then
  for file in "$STATE_DIR/$CHECK@"*.state; do
    [[ -e "$file" ]] || continue
    item="${file#"$STATE_DIR/$CHECK@"}"
    item="${item%.state}"
    [[ -z "${results[$item]:-}" ]] || continue
    status=ok since=- last_ok=- notified=0
    read -r status since last_ok notified <"$file" || true
    if [[ "$status" == failing && "$notified" == 1 ]]; then
      post "$who: $CHECK no longer checks $item" "$who: $CHECK no longer checks $item (failing since $since): it is not among this run's results" || { post_failed=1; continue; }
    fi
    rm -f "$file"
  done
fi
exit "$post_failed"
