/* ciao-restore: run by the guest's init (guest-init.sh) in a VM restored from a snapshot template
 * (docs/vm-snapshots.md). Every copy of a template wakes with the same kernel random state and the
 * clock of the moment the template was saved, so the launcher hands each copy the time and fresh
 * random bytes, and this applies them:
 *   ciao-restore SECONDS.NANOSECONDS HEXSEED
 * The seed is credited to the kernel's pool (RNDADDENTROPY) and the kernel's generator reseeded at
 * once (RNDRESEEDCRNG): writing to /dev/urandom would only take effect at its next scheduled reseed,
 * after dropbear may already have made its host keys. Built statically at image build time. */
#include <fcntl.h>
#include <linux/random.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: ciao-restore SECONDS.NANOSECONDS HEXSEED\n"); return 2; }
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
  return 0;
}
