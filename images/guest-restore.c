/* ciao-restore: run by the guest's init (guest-init.sh) in a VM restored from a snapshot template
 * (docs/vm-snapshots.md). Every copy of a template wakes with the same kernel random state, the
 * clock of the moment the template was saved and the template's MAC, so the launcher hands each
 * copy the time, fresh random bytes and its network, and this applies them:
 *   ciao-restore SECONDS.NANOSECONDS HEXSEED [IFACE MAC ADDRESS/BITS GATEWAY]
 * It also drops what the template's kernel cached of the stand-ins its disks replaced: the template
 * read the first blocks of its stand-in config drive and disk (zeros) when it probed them, and a
 * restart's disk holds what the instance wrote there. Each virtio disk's cached blocks are dropped
 * (BLKFLSBUF) and a writable one's partitions read again (BLKRRPART), as a cold boot would find them.
 * The network (the NIC's MAC, up, its address, the default route) is set with ioctls here rather
 * than three `ip` processes: each process costs a just-restored TCG guest tens of milliseconds.
 * The seed is credited to the kernel's pool (RNDADDENTROPY) and the kernel's generator reseeded at
 * once (RNDRESEEDCRNG): writing to /dev/urandom would only take effect at its next scheduled reseed,
 * after dropbear may already have made its host keys. Built statically at image build time. */
#include <arpa/inet.h>
#include <dirent.h>
#include <linux/fs.h>
#include <unistd.h>
#include <fcntl.h>
#include <linux/random.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

/* IFACE takes MAC, comes up with ADDRESS/BITS, and routes by default through GATEWAY. */
static int network(const char *iface, const char *mac, const char *cidr, const char *gateway) {
  struct ifreq ifr = { 0 };
  unsigned int b[6], bits;
  char addr[16];
  struct in_addr ip, gw;
  if (strlen(iface) >= IFNAMSIZ
      || sscanf(mac, "%2x:%2x:%2x:%2x:%2x:%2x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6
      || sscanf(cidr, "%15[0-9.]/%u", addr, &bits) != 2 || bits > 32
      || inet_pton(AF_INET, addr, &ip) != 1 || inet_pton(AF_INET, gateway, &gw) != 1) {
    fprintf(stderr, "ciao-restore: the network is IFACE MAC ADDRESS/BITS GATEWAY\n");
    return 2;
  }
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) { perror("ciao-restore: socket"); return 1; }
  strcpy(ifr.ifr_name, iface);
  ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
  for (int i = 0; i < 6; i++) ifr.ifr_hwaddr.sa_data[i] = (char)b[i];
  if (ioctl(fd, SIOCSIFHWADDR, &ifr) != 0) { perror("ciao-restore: the MAC"); return 1; }
  struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
  memset(&ifr.ifr_addr, 0, sizeof ifr.ifr_addr);
  sin->sin_family = AF_INET;
  sin->sin_addr = ip;
  if (ioctl(fd, SIOCSIFADDR, &ifr) != 0) { perror("ciao-restore: the address"); return 1; }
  sin->sin_addr.s_addr = htonl(bits ? 0xffffffffu << (32 - bits) : 0);
  if (ioctl(fd, SIOCSIFNETMASK, &ifr) != 0) { perror("ciao-restore: the netmask"); return 1; }
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) { perror("ciao-restore: the link's flags"); return 1; }
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) { perror("ciao-restore: the link up"); return 1; }
  struct rtentry rt = { 0 };
  ((struct sockaddr_in *)&rt.rt_dst)->sin_family = AF_INET;
  ((struct sockaddr_in *)&rt.rt_genmask)->sin_family = AF_INET;
  ((struct sockaddr_in *)&rt.rt_gateway)->sin_family = AF_INET;
  ((struct sockaddr_in *)&rt.rt_gateway)->sin_addr = gw;
  rt.rt_flags = RTF_UP | RTF_GATEWAY;
  rt.rt_dev = ifr.ifr_name;
  if (ioctl(fd, SIOCADDRT, &rt) != 0) { perror("ciao-restore: the default route"); return 1; }
  return 0;
}

/* Every virtio disk there is now (the template's kernel probed its stand-ins for those; volumes are
 * hot-plugged later, never seen by it): its cached blocks dropped; a writable one's partitions
 * read again. */
static int disks(void) {
  DIR *dir = opendir("/sys/block");
  if (!dir) { perror("ciao-restore: /sys/block"); return 1; }
  int failed = 0;
  for (struct dirent *e; (e = readdir(dir));) {
    if (strncmp(e->d_name, "vd", 2) != 0 ) continue;
    char path[300], ro = '1';
    snprintf(path, sizeof path, "/sys/block/%s/ro", e->d_name);
    int rofd = open(path, O_RDONLY);
    if (rofd >= 0) { if (read(rofd, &ro, 1) != 1) ro = '1'; close(rofd); }
    snprintf(path, sizeof path, "/dev/%s", e->d_name);
    int fd = open(path, O_RDONLY);
    if (fd < 0) { perror(path); failed = 1; continue; }
    if (ioctl(fd, BLKFLSBUF) != 0) { perror("ciao-restore: dropping a disk's cached blocks"); failed = 1; }
    if (ro == '0' && ioctl(fd, BLKRRPART) != 0) { perror("ciao-restore: reading a disk's partitions again"); failed = 1; }
    close(fd);
  }
  closedir(dir);
  return failed;
}

int main(int argc, char **argv) {
  if (argc != 3 && argc != 7) { fprintf(stderr, "usage: ciao-restore SECONDS.NANOSECONDS HEXSEED [IFACE MAC ADDRESS/BITS GATEWAY]\n"); return 2; }
  char *dot;
  struct timespec now = { .tv_sec = strtoll(argv[1], &dot, 10), .tv_nsec = 0 };
  if (*dot == '.') now.tv_nsec = strtol(dot + 1, NULL, 10);
  if (clock_settime(CLOCK_REALTIME, &now) != 0) perror("ciao-restore: clock_settime");
  size_t hex = strlen(argv[2]);
  if (hex == 0 || hex % 2 || hex > 1024) { fprintf(stderr, "ciao-restore: the seed is 1 to 512 bytes in hex\n"); return 2; }
  struct { struct rand_pool_info info; unsigned char buf[512]; } pool = { .info = { .entropy_count = (int)hex * 4, .buf_size = (int)hex / 2 } };
  for (size_t i = 0; i < hex / 2; i++) {
    unsigned int byte;
    if (sscanf(argv[2] + 2 * i, "%2x", &byte) != 1) { fprintf(stderr, "ciao-restore: the seed is not hex\n"); return 2; }
    pool.buf[i] = (unsigned char)byte;
  }
  int fd = open("/dev/urandom", O_WRONLY);
  if (fd < 0 || ioctl(fd, RNDADDENTROPY, &pool.info) != 0 || ioctl(fd, RNDRESEEDCRNG) != 0) { perror("ciao-restore: seeding the kernel"); return 1; }
  if (disks() != 0) return 1;
  return argc == 7 ? network(argv[3], argv[4], argv[5], argv[6]) : 0;
}
