#!/usr/bin/env bash
# Deploy (or operate) the Bot4 trading engine in one environment through the
# collection's playbooks (k8s/deploy.sh; ./deploy.sh at the top of the
# checkout is the same script).
set -euo pipefail

script=$(readlink -f "$0")
repo=$(cd "$(dirname "$script")/.." && pwd)
usage() {
  cat <<'USAGE'
usage: ./deploy.sh ENV [ACTION] [ansible-playbook arguments...]

  ENV     dev          namespace bot4-trading-dev
          staging      namespace bot4-trading-staging
          production   namespace bot4-trading
  ACTION  deploy       render, apply, wait, prune (the default; production
                       deploys through a canary)
          canary       deploy through a canary
          rollback     back to the previous revision
                       (-e cluster_deploy_rollback_revision=N for another)
          stop         emergency stop: scale to zero, hold the HPA
          resume       undo an emergency stop
          backup       objects, ConfigMaps, Secret metadata (no values), PVCs

  Runs ansible-playbook -i inventories/ENV playbooks/<playbook>.yml. The
  inventories read BOT4_KUBECONFIG, BOT4_ENGINE_IMAGE (production: pinned by
  @sha256 digest), BOT4_EXCHANGE_CIDRS and, for dev and staging,
  BOT4_BINANCE_API_KEY / BOT4_BINANCE_API_SECRET. docs/deploy.md has the rest.

examples:
  BOT4_KUBECONFIG=~/.kube/lab BOT4_ENGINE_IMAGE=bot4/trading-engine:v0.4.0 ./deploy.sh dev
  ./deploy.sh production rollback -e cluster_deploy_rollback_revision=7
  ./deploy.sh staging deploy --check --diff
USAGE
}

case "${1:-}" in
  -h|--help|help) usage; exit 0 ;;
  "") usage >&2; exit 2 ;;
esac
env=$1; shift
case "$env" in
  dev|staging|production) ;;
  *) echo "deploy.sh: unknown environment '$env' (dev, staging or production; --help for more)" >&2; exit 2 ;;
esac

action=deploy
if [[ $# -ge 1 && $1 != -* ]]; then action=$1; shift; fi
case "$action" in
  deploy) playbook=$([[ $env == production ]] && echo canary || echo deploy) ;;
  canary) playbook=canary ;;
  rollback) playbook=rollback ;;
  stop) playbook=emergency_stop ;;
  resume) playbook=resume ;;
  backup) playbook=backup ;;
  *) echo "deploy.sh: unknown action '$action' (deploy, canary, rollback, stop, resume or backup; --help for more)" >&2; exit 2 ;;
esac

# Resolve bot4.hft from this checkout unless a collection path is given.
if [[ -z "${ANSIBLE_COLLECTIONS_PATH:-}" ]]; then
  mkdir -p "$repo/.cache/collections/ansible_collections/bot4"
  ln -sfn "$repo" "$repo/.cache/collections/ansible_collections/bot4/hft"
  site=$(find "$repo"/.venv/lib -maxdepth 2 -path '*/python3*/site-packages' 2>/dev/null | head -1 || true)
  export ANSIBLE_COLLECTIONS_PATH="$repo/.cache/collections${site:+:$site}"
fi
playbook_bin=ansible-playbook
[[ -x "$repo/.venv/bin/ansible-playbook" ]] && playbook_bin="$repo/.venv/bin/ansible-playbook"

cd "$repo"
exec "$playbook_bin" -i "inventories/$env" "playbooks/$playbook.yml" "$@"
