# qbg: a datagram pipe to lldpad's client socket, because Node cannot open abstract unix datagram sockets.
# Protocol logic lives in TypeScript (src/lldpad/clif-socket.ts); this only moves bytes, hex-encoded so that any
# byte (lldpad prints raw manager ids) survives a line:
#   stdin  "<seq> <hex>\n"  -> one datagram to lldpad; a failed send prints "e<seq> <errno> <text>"
#   stdout "d<hex>\n"       <- one datagram from lldpad;  "ready <name>" once bound
# Run it inside the station's network namespace: lldpad's socket is per namespace.
import os, socket, sys, threading

LLDPAD = '\0/com/intel/lldpad'
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
name = '\0/com/intel/lldpad/qbg-%d' % os.getpid()
s.bind(name)
lock = threading.Lock()

def emit(line):
    with lock:
        sys.stdout.write(line + '\n')
        sys.stdout.flush()

def reader():
    # A tight loop: net.unix.max_dgram_qlen is 10 in a fresh namespace and lldpad drops a client after 10 failed sends.
    while True:
        emit('d' + s.recv(65536).hex())

threading.Thread(target=reader, daemon=True).start()
emit('ready ' + name[1:])
for line in sys.stdin:
    seq, _, data = line.strip().partition(' ')
    try:
        # sendto, not connect: a restarted lldpad binds a new socket under the same name.
        s.sendto(bytes.fromhex(data), LLDPAD)
    except OSError as e:
        emit('e%s %d %s' % (seq, e.errno or 0, e.strerror))
