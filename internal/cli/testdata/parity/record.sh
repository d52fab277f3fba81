#!/usr/bin/env bash
# record.sh records what docker prints for each step of ./scenario and then
# ./scenario-api, from a real Swarm, into NAME.txt beside it:
# TestParityWithDocker (internal/cli) compares shoal's output with these,
# TestDockerCLIParityWithSwarm (test/e2e) the docker CLI's against shoal.
#
# It never touches the machine's main Docker engine: it starts a private
# dockerd on its own socket and folders, builds the test app image into it
# (FROM scratch, the classic builder), makes it a one-node Swarm, runs the
# scenario, then stops that dockerd and removes its folders. Run it as root
# from anywhere, with docker and dockerd installed:
#
#   internal/cli/testdata/parity/record.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../../.." && pwd)
work=$(mktemp -d /tmp/shoal-parity.XXXXXX)
sock="$work/docker.sock"
export DOCKER_HOST="unix://$sock"
image=shoal-parity-app:1

# Swarm makes docker_gwbridge on the host; it is removed afterwards only
# if this script made it (the main engine may be in swarm mode).
if ip link show docker_gwbridge >/dev/null 2>&1; then
	echo "docker_gwbridge exists: this Swarm would share it; not recording" >&2
	exit 1
fi
if ip link show parity0 >/dev/null 2>&1; then
	echo "parity0 exists: another recording runs?" >&2
	exit 1
fi

dockerd_pid=
cleanup() {
	if [ -n "$dockerd_pid" ]; then
		docker swarm leave --force >/dev/null 2>&1 || true
		kill "$dockerd_pid" 2>/dev/null || true
		wait "$dockerd_pid" 2>/dev/null || true
	fi
	# Swarm's network namespaces stay mounted under the exec root.
	awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r |
		xargs -r -n1 umount 2>/dev/null || true
	# Its links on the host: the bridge made for it, and Swarm's gateway
	# bridge (checked above to be none of the main engine's).
	ip link del parity0 2>/dev/null || true
	ip link del docker_gwbridge 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

# A private engine: its own bridge, no iptables, addresses away from the
# main engine's 172.17.0.0/16, an empty config file (the machine's
# /etc/docker/daemon.json names the main engine's data root). Not
# --bridge=none: a dockerd told so deletes docker0, the main engine's
# bridge, and Swarm's docker_gwbridge would then take 172.17.0.0/16.
echo '{}' >"$work/daemon.json"
ip link add parity0 type bridge
ip addr add 10.231.0.1/24 dev parity0
ip link set parity0 up
dockerd --config-file "$work/daemon.json" --data-root "$work/data" \
	--exec-root "$work/exec" --host "$DOCKER_HOST" --pidfile "$work/dockerd.pid" \
	--iptables=false --ip-masq=false --bridge=parity0 \
	--default-address-pool base=10.232.0.0/16,size=24 >"$work/dockerd.log" 2>&1 &
dockerd_pid=$!
for _ in $(seq 50); do
	docker version >/dev/null 2>&1 && break
	sleep 0.2
done
docker version --format 'docker CLI {{.Client.Version}}, engine {{.Server.Version}}'

mkdir "$work/img"
(cd "$repo" && CGO_ENABLED=0 go build -o "$work/img/app" ./internal/testutil/testapp)
printf 'FROM scratch\nCOPY app /app\nENTRYPOINT ["/app"]\n' >"$work/img/Dockerfile"
DOCKER_BUILDKIT=0 docker build -q -t "$image" "$work/img" >/dev/null 2>&1

# Loopback addresses and ports of their own, so that this Swarm clashes
# with nothing on the machine.
docker swarm init --listen-addr 127.0.0.1:4377 --advertise-addr 127.0.0.1:4377 \
	--data-path-port 4799 >/dev/null

echo x >"$work/file"
grep -v '^    command:' "$here/stack.yml" | sed "s|IMAGE|$image|" >"$work/stack.yml"

# normalize replaces what differs from run to run: IDs, times, the host.
normalize() {
	sed -E \
		-e 's/\b[0-9a-f]{64}\b/<ID>/g' \
		-e 's/\b[a-z0-9]{25}\b/<ID>/g' \
		-e 's/\b[0-9a-f]{12}\b/<ID>/g' \
		-e 's/[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9:.]+(Z|[+-][0-9:]+)?( [+-][0-9]{4} [A-Z]+)?/<TIME>/g' \
		-e 's/Less than a second ago/<AGO>/g' \
		-e 's/(About )?(an?|[0-9]+) (second|minute|hour|day|week|month|year)s? ago/<AGO>/g' \
		-e "s/\\b$(hostname)\\b/<HOST>/g"
}

rm -f "$here"/*.txt
while read -r name kind rest; do
	case "$name" in '' | '#'*) continue ;; esac
	args=${rest//\{IMG\}/$image}
	args=${args//\{IMAGE\}/$image}
	args=${args//\{FILE\}/$work/file}
	args=${args//\{STACK\}/$work/stack.yml}
	case "$args" in *'{TASK}'*) args=${args//\{TASK\}/$(docker service ps -q --no-trunc -f desired-state=running ptask | head -1)} ;; esac
	eval "set -- $args"
	set +e
	docker "$@" >"$work/out" 2>"$work/err"
	code=$?
	set -e
	{
		echo "exit $code"
		echo "--- stdout"
		normalize <"$work/out"
		echo "--- stderr"
		normalize <"$work/err" | sed "s|$work|<WORK>|g"
	} >"$here/$name.txt"
	echo "$name: exit $code"
	# Give the Swarm a moment where the next step reads what this one did.
	case "$name" in service-create | service-update | service-rollback | stack-deploy | api-task-create) sleep 3 ;; esac
done < <(cat "$here/scenario" "$here/scenario-api")
