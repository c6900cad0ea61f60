#!/usr/bin/env bash
# qbg lab: one bridge and N stations, each in its own network namespace, joined by veth pairs, each running a
# real lldpad in its own mount namespace with a private /dev/shm (lldpad keeps a POSIX shm segment that blocks a
# second instance). Usage:
#   lab.sh up     [--id ID] [--stations N] [--bridge lldpad|none] [--station-evb] [--uplink veth|vxlan] [--libvirt]
#                                                                                    prints the lab as JSON
#   lab.sh status --id ID                                                              prints the lab as JSON
#   lab.sh down   --id ID                     removes namespaces, links, processes and state; idempotent
#   lab.sh down-all [--state-only]            removes every qbg lab on this machine (or only those in $QBG_LAB_STATE)
#   lab.sh start-lldpad --id ID --ns NAME     (re)start one lldpad (NAME: br, st1, st2, …)
#   lab.sh stop-lldpad  --id ID --ns NAME [--signal KILL]
#   lab.sh start-libvirtd --id ID --ns stK    start the station's own libvirtd (lab brought up with --libvirt)
#   lab.sh stop-libvirtd  --id ID --ns stK [--signal KILL]   (its guests keep running, as on a real host)
# Namespaces are qbg-ID-br and qbg-ID-stK; each station's uplink is "s0", the bridge's ports are "b1".."bN".
# --uplink vxlan: s0 and bK are a vxlan pair (VNI 76+K, port 4789) over a veth underlay u0 ↔ uK with the
# link-local addresses 169.254.77.(4K-3)/30 ↔ .(4K-2)/30. libvirt needs it: it follows a macvtap uplink's IFLA_LINK
# to the "physical" device, and a veth points at its peer ("error dumping (null) interface"); a vxlan has none.
# --libvirt (implies vxlan) prepares a private libvirt root per station in STATE/ID/stK.libvirt/{run,etc,lib,log,
# cache}; start-libvirtd runs libvirtd in the station's network namespace and a private mount namespace where those
# directories are /run, /etc/libvirt, /var/lib/libvirt, /var/log/libvirt, /var/cache/libvirt, and /run/lldpad.pid
# names the station's lldpad (libvirt sends its port profile requests to that pid). Install a qemu hook into
# stK.libvirt/etc/hooks before start-libvirtd: libvirtd looks for it only when it starts.
# The bridge role is written into the bridge lldpad's config before it starts: lldpad fixes the VDP22 role when
# it starts the module and ignores a later evbmode change (see shared notes).
set -euo pipefail

STATE_ROOT=${QBG_LAB_STATE:-/run/qbg-lab}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() { echo "lab.sh: $*" >&2; exit 2; }

need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found: install the Debian package $2 (apt-get install -y $2)"; }

ns_name() { echo "qbg-$1-$2"; }

lldpad_pid() { # $1 namespace: pid of the lldpad running in it, or nothing
  local p
  for p in $(ip netns pids "$1" 2>/dev/null); do
    if [ "$(cat "/proc/$p/comm" 2>/dev/null)" = lldpad ]; then echo "$p"; return 0; fi
  done
  return 0
}

libvirtd_pid() { # $1 namespace: pid of the libvirtd running in it, or nothing
  local p
  for p in $(ip netns pids "$1" 2>/dev/null); do
    if [ "$(cat "/proc/$p/comm" 2>/dev/null)" = libvirtd ]; then echo "$p"; return 0; fi
  done
  return 0
}

libvirt_dir() { echo "$STATE_ROOT/$1/$2.libvirt"; } # $1 id, $2 short station

start_lldpad() { # $1 id, $2 short ns (br|stK)
  local id=$1 short=$2 ns dir
  ns=$(ns_name "$id" "$short"); dir="$STATE_ROOT/$id"
  [ -n "$(lldpad_pid "$ns")" ] && { write_lldpad_pidfile "$id" "$short"; return 0; }
  # -p: no /var/run/lldpad.pid (two instances would fight over it); we find the pid through the namespace.
  setsid ip netns exec "$ns" unshare -m sh -c \
    "mount -t tmpfs tmpfs /dev/shm && exec lldpad -p -t -f '$dir/$short.conf' -V 7" \
    >>"$dir/$short.log" 2>&1 </dev/null &
  local i
  for i in $(seq 1 100); do
    if ip netns exec "$ns" lldptool -p >/dev/null 2>&1; then
      lldpad_pid "$ns" >"$dir/$short.pid"
      write_lldpad_pidfile "$id" "$short"
      return 0
    fi
    sleep 0.05
  done
  die "lldpad in $ns did not answer within 5 s (log: $dir/$short.log)"
}

# libvirt reads /run/lldpad.pid before each port profile request: keep the private one current after a restart.
write_lldpad_pidfile() { # $1 id, $2 short ns
  local L
  L=$(libvirt_dir "$1" "$2")
  [ -d "$L/run" ] && cp "$STATE_ROOT/$1/$2.pid" "$L/run/lldpad.pid"
  return 0
}

prepare_libvirt() { # $1 id, $2 short station: the private libvirt root
  local L
  L=$(libvirt_dir "$1" "$2")
  mkdir -p "$L/run" "$L/etc/hooks" "$L/lib" "$L/log" "$L/cache"
  # root/root: no libvirt-qemu user owns anything here; file: no virtlogd runs in the lab.
  printf 'user = "root"\ngroup = "root"\nstdio_handler = "file"\n' >"$L/etc/qemu.conf"
  # root clients on the private socket only; no polkit in a container
  printf 'auth_unix_rw = "none"\nauth_unix_ro = "none"\nunix_sock_rw_perms = "0700"\n' >"$L/etc/libvirtd.conf"
  # Its own host UUID: the stations share one machine's SMBIOS, and libvirt refuses a migration between two
  # libvirtds with the same host UUID ("Attempt to migrate guest to the same host").
  printf 'host_uuid = "%s"\n' "$(cat /proc/sys/kernel/random/uuid)" >>"$L/etc/libvirtd.conf"
}

start_libvirtd() { # $1 id, $2 short station
  local id=$1 short=$2 ns dir L shim i
  ns=$(ns_name "$id" "$short"); dir="$STATE_ROOT/$id"; L=$(libvirt_dir "$id" "$short")
  [ -d "$L" ] || die "lab $id was not brought up with --libvirt"
  [ -n "$(libvirtd_pid "$ns")" ] && return 0
  need libvirtd libvirt-daemon; need cc gcc
  [ -n "$(lldpad_pid "$ns")" ] || die "no lldpad runs in $ns: start it first (libvirt addresses it by pid)"
  write_lldpad_pidfile "$id" "$short"
  shim="$dir/libvirt-nlport-shim.so"
  [ -f "$shim" ] || cc -O2 -shared -fPIC -o "$shim" "$HERE/libvirt-nlport-shim.c" -ldl ||
    die "cannot compile $HERE/libvirt-nlport-shim.c (apt-get install -y gcc)"
  # mount points of the private directories (empty directories, left in place for the next lab)
  mkdir -p /var/lib/libvirt /var/log/libvirt /var/cache/libvirt
  # qemu's capabilities, probed once and shared by the labs: probing costs a libvirtd start ~8 s of CPU here.
  # libvirtd checks a cached entry (qemu binary, libvirt version, kernel) and probes again when it is stale.
  local caps="$STATE_ROOT/.qemu-capabilities"
  if [ -d "$caps" ]; then mkdir -p "$L/cache/qemu/capabilities"; cp "$caps"/*.xml "$L/cache/qemu/capabilities/" 2>/dev/null || true; fi
  # The state dir may live under /run, which the private /run hides: bind it back at the same path so the hook
  # config and the logs keep one path inside and outside.
  setsid ip netns exec "$ns" unshare -m sh -c '
    set -e
    L=$1 D=$2
    mount --make-rprivate /
    case $D in /run/*) mkdir -p "$L/run${D#/run}"; mount --bind "$D" "$L/run${D#/run}" ;; esac
    mount --rbind "$L/run" /run
    mount --bind "$L/etc" /etc/libvirt
    mount --bind "$L/lib" /var/lib/libvirt
    mount --bind "$L/log" /var/log/libvirt
    mount --bind "$L/cache" /var/cache/libvirt
    exec env LD_PRELOAD="$3" LIBVIRT_LOG_OUTPUTS="1:file:$4" \
      LIBVIRT_LOG_FILTERS="1:util.netdevvportprofile 1:util.hook 1:util.netdevmacvlan 3:util 3:qemu 3:conf 3:rpc" \
      libvirtd' sh "$L" "$dir" "$shim" "$dir/$short.libvirtd.log" >>"$dir/$short.libvirtd.out" 2>&1 </dev/null &
  for i in $(seq 1 300); do
    if [ -S "$L/run/libvirt/libvirt-sock" ] &&
      virsh -q -c "qemu:///system?socket=$L/run/libvirt/libvirt-sock" version >/dev/null 2>&1; then
      libvirtd_pid "$ns" >"$dir/$short.libvirtd.pid"
      if [ ! -d "$caps" ] && ls "$L/cache/qemu/capabilities/"*.xml >/dev/null 2>&1; then
        mkdir -p "$caps.$$" && cp "$L/cache/qemu/capabilities/"*.xml "$caps.$$/" && mv -T "$caps.$$" "$caps" 2>/dev/null || true
        rm -rf "$caps.$$"
      fi
      return 0
    fi
    [ $((i % 20)) = 0 ] && [ -z "$(libvirtd_pid "$ns")" ] && break
    sleep 0.1
  done
  die "libvirtd in $ns did not answer within 30 s (logs: $dir/$short.libvirtd.out, $dir/$short.libvirtd.log)"
}

stop_libvirtd() { # $1 id, $2 short station, $3 signal
  local pid i
  pid=$(libvirtd_pid "$(ns_name "$1" "$2")")
  [ -z "$pid" ] && return 0
  kill "-$3" "$pid" 2>/dev/null || true
  for i in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
}

stop_lldpad() { # $1 id, $2 short ns, $3 signal
  local ns pid
  ns=$(ns_name "$1" "$2")
  pid=$(lldpad_pid "$ns")
  [ -z "$pid" ] && return 0
  kill "-$3" "$pid" 2>/dev/null || true
  local i
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
}

write_conf() { # $1 template, $2 port list, $3 out
  local tpl=$1 ports=$2 out=$3 p body=""
  for p in $ports; do body+="$(sed "s/@PORT@/$p/g" "$HERE/templates/$tpl")"$'\n'; done
  printf 'nearest_customer_bridge :\n{\n%s};\n' "$body" >"$out"
}

print_json() { # $1 id
  local id=$1 dir="$STATE_ROOT/$1" n br k ns pid L first=1
  n=$(cat "$dir/stations")
  br=$(ns_name "$id" br)
  printf '{"id":"%s","stateDir":"%s","uplinkKind":"%s","bridge":{"netns":"%s","mode":"%s","lldpadPid":%s,"ports":[' \
    "$id" "$dir" "$(cat "$dir/uplink" 2>/dev/null || echo veth)" "$br" "$(cat "$dir/bridge")" "$(pid=$(lldpad_pid "$br"); echo "${pid:-null}")"
  for k in $(seq 1 "$n"); do [ $first = 1 ] || printf ','; first=0; printf '"b%s"' "$k"; done
  printf ']},"stations":['
  first=1
  for k in $(seq 1 "$n"); do
    ns=$(ns_name "$id" "st$k"); pid=$(lldpad_pid "$ns")
    [ $first = 1 ] || printf ','; first=0
    printf '{"name":"st%s","netns":"%s","uplink":"s0","bridgePort":"b%s","lldpadPid":%s,"mac":"%s","libvirt":' \
      "$k" "$ns" "$k" "${pid:-null}" "$(ip -n "$ns" -br link show s0 2>/dev/null | awk '{print $3}')"
    L=$(libvirt_dir "$id" "st$k")
    if [ -d "$L" ]; then
      pid=$(libvirtd_pid "$ns")
      printf '{"root":"%s","uri":"qemu:///system?socket=%s/run/libvirt/libvirt-sock","libvirtdPid":%s,"log":"%s"}}' \
        "$L" "$L" "${pid:-null}" "$dir/st$k.libvirtd.log"
    else
      printf 'null}'
    fi
  done
  printf ']}\n'
}

cmd_up() {
  local id="" n=1 bridge=lldpad station_evb=0 uplink="" libvirt=0
  while [ $# -gt 0 ]; do
    case $1 in
      --id) id=$2; shift 2 ;;
      --stations) n=$2; shift 2 ;;
      --bridge) bridge=$2; shift 2 ;;
      --station-evb) station_evb=1; shift ;;
      --uplink) uplink=$2; shift 2 ;;
      --libvirt) libvirt=1; shift ;;
      *) die "unknown option $1" ;;
    esac
  done
  need lldpad lldpad; need lldptool lldpad; need ip iproute2; need unshare util-linux
  [ -n "$id" ] || id=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
  [[ $id =~ ^[a-z0-9]{1,8}$ ]] || die "--id must be 1-8 of a-z, 0-9, got '$id'"
  [[ $n =~ ^[1-8]$ ]] || die "--stations must be 1-8, got '$n'"
  [[ $bridge = lldpad || $bridge = none ]] || die "--bridge must be lldpad or none, got '$bridge'"
  [ -n "$uplink" ] || { [ $libvirt = 1 ] && uplink=vxlan || uplink=veth; }
  [[ $uplink = veth || $uplink = vxlan ]] || die "--uplink must be veth or vxlan, got '$uplink'"
  [ $libvirt = 0 ] || [ $uplink = vxlan ] || die "--libvirt needs --uplink vxlan (libvirt cannot use a veth uplink)"
  local dir="$STATE_ROOT/$id"
  if [ -d "$dir" ]; then print_json "$id"; return 0; fi # idempotent
  mkdir -p "$dir"
  echo "$n" >"$dir/stations"; echo "$bridge" >"$dir/bridge"; echo "$uplink" >"$dir/uplink"
  trap 'cmd_down --id "$id" >/dev/null 2>&1 || true' ERR
  local br k ns ports=""
  br=$(ns_name "$id" br)
  ip netns add "$br"
  ip -n "$br" link set lo up
  for k in $(seq 1 "$n"); do
    ns=$(ns_name "$id" "st$k")
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip link add "q$id-s$k" type veth peer name "q$id-b$k"
    ip link set "q$id-s$k" netns "$ns"
    ip link set "q$id-b$k" netns "$br"
    if [ "$uplink" = veth ]; then
      ip -n "$ns" link set "q$id-s$k" name s0
      ip -n "$br" link set "q$id-b$k" name "b$k"
    else
      local sip="169.254.77.$((4 * k - 3))" bip="169.254.77.$((4 * k - 2))"
      ip -n "$ns" link set "q$id-s$k" name u0
      ip -n "$br" link set "q$id-b$k" name "u$k"
      ip -n "$ns" addr add "$sip/30" dev u0
      ip -n "$br" addr add "$bip/30" dev "u$k"
      ip -n "$ns" link set u0 up
      ip -n "$br" link set "u$k" up
      ip -n "$ns" link add s0 type vxlan id $((76 + k)) local "$sip" remote "$bip" dstport 4789
      ip -n "$br" link add "b$k" type vxlan id $((76 + k)) local "$bip" remote "$sip" dstport 4789
    fi
    ip -n "$ns" link set s0 up
    ip -n "$br" link set "b$k" up
    [ $libvirt = 0 ] || prepare_libvirt "$id" "st$k"
    ports+="b$k "
    if [ $station_evb = 1 ]; then write_conf station.conf s0 "$dir/st$k.conf"; else : >"$dir/st$k.conf"; fi
    start_lldpad "$id" "st$k"
  done
  if [ "$bridge" = lldpad ]; then
    write_conf bridge.conf "$ports" "$dir/br.conf"
    start_lldpad "$id" br
  fi
  trap - ERR
  print_json "$id"
}

cmd_down() {
  local id=""
  while [ $# -gt 0 ]; do case $1 in --id) id=$2; shift 2 ;; *) die "unknown option $1" ;; esac; done
  [[ $id =~ ^[a-z0-9]{1,8}$ ]] || die "--id must be 1-8 of a-z, 0-9, got '$id'"
  local ns p
  # ip netns del does not kill what runs inside: kill every process of the lab's namespaces first.
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^qbg-$id-" || true); do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
  done
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^qbg-$id-" || true); do
    for p in $(ip netns pids "$ns" 2>/dev/null); do
      for _ in $(seq 1 40); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    done
    ip netns del "$ns" 2>/dev/null || true
  done
  # a veth left in the root namespace by an interrupted "up"
  for p in $(ip -br link 2>/dev/null | awk '{print $1}' | sed 's/@.*//' | grep -E "^q$id-[sb][0-9]+$" || true); do
    ip link del "$p" 2>/dev/null || true
  done
  rm -rf "${STATE_ROOT:?}/$id"
  echo "{\"id\":\"$id\",\"down\":true}"
}

cmd_down_all() {
  local id state_only=0
  while [ $# -gt 0 ]; do case $1 in --state-only) state_only=1; shift ;; *) die "unknown option $1" ;; esac; done
  # --state-only: only the labs recorded under $STATE_ROOT (lets a test use a private QBG_LAB_STATE without
  # removing the labs of tests running next to it).
  [ $state_only = 1 ] || for id in $(ip netns list 2>/dev/null | awk '{print $1}' | sed -nE 's/^qbg-([a-z0-9]+)-(br|st[0-9]+)$/\1/p' | sort -u); do
    cmd_down --id "$id" >/dev/null
  done
  if [ -d "$STATE_ROOT" ]; then
    for id in $(ls "$STATE_ROOT"); do cmd_down --id "$id" >/dev/null; done
  fi
  echo '{"down":"all"}'
}

parse_id_ns() {
  ID=""; NS=""; SIG=TERM
  while [ $# -gt 0 ]; do
    case $1 in --id) ID=$2; shift 2 ;; --ns) NS=$2; shift 2 ;; --signal) SIG=$2; shift 2 ;; *) die "unknown option $1" ;; esac
  done
  [[ $ID =~ ^[a-z0-9]{1,8}$ ]] || die "--id must be 1-8 of a-z, 0-9, got '$ID'"
  [[ $NS =~ ^(br|st[1-8])$ ]] || die "--ns must be br or st1..st8, got '$NS'"
  [[ $SIG =~ ^(TERM|KILL|INT)$ ]] || die "--signal must be TERM, KILL or INT, got '$SIG'"
  [ -d "$STATE_ROOT/$ID" ] || die "no lab with id $ID"
}

case ${1:-} in
  up) shift; cmd_up "$@" ;;
  down) shift; cmd_down "$@" ;;
  down-all) shift; cmd_down_all "$@" ;;
  status)
    shift; [ "${1:-}" = --id ] || die "usage: lab.sh status --id ID"
    [ -d "$STATE_ROOT/${2:-}" ] || die "no lab with id ${2:-}"
    print_json "$2" ;;
  start-lldpad) shift; parse_id_ns "$@"; start_lldpad "$ID" "$NS"; print_json "$ID" ;;
  stop-lldpad) shift; parse_id_ns "$@"; stop_lldpad "$ID" "$NS" "$SIG"; print_json "$ID" ;;
  start-libvirtd) shift; parse_id_ns "$@"; [[ $NS = st* ]] || die "libvirtd runs on stations only"; start_libvirtd "$ID" "$NS"; print_json "$ID" ;;
  stop-libvirtd) shift; parse_id_ns "$@"; [[ $NS = st* ]] || die "libvirtd runs on stations only"; stop_libvirtd "$ID" "$NS" "$SIG"; print_json "$ID" ;;
  *) die "usage: lab.sh up|down|down-all|status|start-lldpad|stop-lldpad|start-libvirtd|stop-libvirtd (see the comment at the top)" ;;
esac
