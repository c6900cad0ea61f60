/* LD_PRELOAD shim for libvirtd 9.0 in the qbg lab (lab.sh start-libvirtd compiles it with cc).
 *
 * libnl picks a netlink port id of pid + (index << 22); with an index >= 512 bit 31 is set. libvirt 9.0 returns
 * that port id as an int and its callers read a negative value as failure, so every 802.1Qbg/802.1Qbh port
 * profile request of such a libvirtd fails with "sending of PortProfileRequest failed." and no netlink message
 * ever reaches lldpad (see the shared notes, "libvirt 9.0 sometimes sends nothing"). Which index libnl uses is
 * time-seeded: without this shim about every other lab run fails. Clearing bit 31 of the port a netlink socket
 * asks for keeps the id unique enough (libnl retries on EADDRINUSE) and positive. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>

int bind(int fd, const struct sockaddr *addr, socklen_t len) {
  static int (*real_bind)(int, const struct sockaddr *, socklen_t);
  if (!real_bind) real_bind = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "bind");
  if (addr && addr->sa_family == AF_NETLINK && len >= (socklen_t)sizeof(struct sockaddr_nl)) {
    struct sockaddr_nl nl;
    memcpy(&nl, addr, sizeof nl);
    if (nl.nl_pid & 0x80000000u) {
      nl.nl_pid &= 0x7fffffffu;
      return real_bind(fd, (const struct sockaddr *)&nl, sizeof nl);
    }
  }
  return real_bind(fd, addr, len);
}
