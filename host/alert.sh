#!/usr/bin/env bash
# housing-portal: tell a person when a backup job fails, once, and once more when it recovers.
#
# Installed on the host as /usr/local/sbin/housing-portal-alert and run as the ExecStopPost= of
# every backup unit (snapshot, dump, off-site copy, restore check, freshness check), so it runs
# after each run of the unit however it ended: with an exit status, a timeout or a signal
# (systemd sets SERVICE_RESULT, EXIT_CODE and EXIT_STATUS for it).
#
# What it does, per CHECK (one state file each in STATE_DIR):
#   - a failed run when the check was not failing: posts one message naming the stack, the host,
#     the machine, the check, since when it fails and the last success, and the run's last log
#     line (which names the instance: "not dumped: chile (...)"); a failed run while the check
#     already failed and was reported posts nothing;
#   - a successful run after a reported failure: posts one recovery message;
#   - a message that could not be posted is not recorded as posted: the next run tries again.
# Messages go to the webhook in WEBHOOK_URL_FILE (a JSON body with "text" and "content", which
# Slack, Microsoft Teams and Discord incoming webhooks accept) and, with SNS_TOPIC_ARN, to that
# SNS topic through the AWS CLI with the machine's instance role. Without either, the message is
# only logged. The URL is a secret: it is read from its root-only file and handed to curl in a
# private config file, never on a command line.
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
#   AWS                   default aws. The AWS CLI (tests put a shim here).
#   STATE_DIR             default /var/lib/housing-portal/alerts.
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
AWS="${AWS:-aws}"
STATE_DIR="${STATE_DIR:-/var/lib/housing-portal/alerts}"
POST_TIMEOUT_SECONDS="${POST_TIMEOUT_SECONDS:-20}"
JOURNALCTL="${JOURNALCTL:-journalctl}"

[[ "$CHECK" =~ ^[a-z][a-z-]{0,30}$ ]] || usage_error "CHECK must name the check (snapshot, dump, offsite, restore-check, backup-status), got '$CHECK'"
if [[ -z "$RESULT" ]]; then
  [[ -n "${SERVICE_RESULT:-}" ]] || usage_error "RESULT is empty and SERVICE_RESULT (set by systemd for ExecStopPost=) too"
  if [[ "$SERVICE_RESULT" == success ]]; then RESULT=ok; else RESULT=fail; fi
fi
[[ "$RESULT" == ok || "$RESULT" == fail ]] || usage_error "RESULT must be ok or fail, got '$RESULT'"
[[ "$STATE_DIR" == /* ]] || usage_error "STATE_DIR must be an absolute path, got '$STATE_DIR'"
[[ "$WEBHOOK_URL_FILE" == /* ]] || usage_error "WEBHOOK_URL_FILE must be an absolute path, got '$WEBHOOK_URL_FILE'"
is_count() { [[ "$1" =~ ^[0-9]+$ ]] && ((10#$1 >= 1)); }
is_count "$POST_TIMEOUT_SECONDS" || usage_error "POST_TIMEOUT_SECONDS must be a whole number >= 1"
[[ -z "$SNS_TOPIC_ARN" || "$SNS_TOPIC_ARN" =~ ^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+$ ]] || usage_error "SNS_TOPIC_ARN must be an SNS topic ARN, got '$SNS_TOPIC_ARN'"
if [[ -n "$SNS_TOPIC_ARN" && -z "$SNS_REGION" ]]; then SNS_REGION="$(cut -d: -f4 <<<"$SNS_TOPIC_ARN")"; fi
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
state="$STATE_DIR/$CHECK.state"
exec 9>>"$state.lock"
flock -w 60 9 || { log "error: another alert for $CHECK holds $state.lock"; exit 1; }

# State: "status since last_ok notified" on one line; status ok|failing, times in UTC, notified 0|1.
status=ok since=- last_ok=- notified=0
if [[ -s "$state" ]]; then read -r status since last_ok notified <"$state" || true; fi
now="$(date -u +%Y-%m-%dT%H:%M:%SZ)"

save() { # save STATUS SINCE LAST_OK NOTIFIED
  local tmp
  tmp="$(mktemp "$state.XXXXXX")"
  printf '%s %s %s %s\n' "$@" >"$tmp"
  mv -f "$tmp" "$state"
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
  local rc=0
  timeout "$POST_TIMEOUT_SECONDS" "$AWS" sns publish --region "$SNS_REGION" --topic-arn "$SNS_TOPIC_ARN" \
    --subject "${1:0:99}" --message "$2" >/dev/null 9>&- || rc=$?
  ((rc == 0)) || log "error: publishing to $SNS_TOPIC_ARN failed (exit $rc)"
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
if [[ "$RESULT" == fail ]]; then
  [[ "$status" == failing ]] || since="$now"
  if [[ "$status" == failing && "$notified" == 1 ]]; then
    log "$CHECK still failing since $since; already reported"
    exit 0
  fi
  last="$last_ok"; [[ "$last" != - ]] || last="none recorded"
  if post "$who: $CHECK FAILED" "$who: $CHECK FAILED since $since (last success: $last): $SUMMARY"; then
    save failing "$since" "$last_ok" 1
  else
    save failing "$since" "$last_ok" 0
    exit 1
  fi
else
  if [[ "$status" == failing && "$notified" == 1 ]]; then
    if ! post "$who: $CHECK recovered" "$who: $CHECK RECOVERED at $now after failing since $since: $SUMMARY"; then
      exit 1 # still recorded as failing: the next successful run posts the recovery
    fi
  fi
  save ok - "$now" 0
fi
