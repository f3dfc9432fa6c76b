#!/usr/bin/env bash
# Deploy (or operate) the Bot4 engine in one environment through the
# collection's playbooks.
#
#   k8s/deploy.sh ENV [ACTION] [ansible-playbook arguments...]
#     ENV     dev | staging | production
#     ACTION  deploy (default; production: canary) | canary | rollback |
#             stop | resume | backup
#
# Examples:
#   BOT4_KUBECONFIG=~/.kube/lab BOT4_ENGINE_IMAGE=reg/bot4/engine:1.4 k8s/deploy.sh dev
#   k8s/deploy.sh production rollback -e cluster_deploy_rollback_revision=7
#   k8s/deploy.sh staging deploy --check --diff
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[[ $# -ge 1 ]] || usage
env=$1; shift
case "$env" in
  dev|staging|production) ;;
  *) echo "deploy.sh: unknown environment '$env' (dev, staging or production)" >&2; exit 2 ;;
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
  *) echo "deploy.sh: unknown action '$action'" >&2; usage ;;
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
