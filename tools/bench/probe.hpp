// tools/bench/probe.hpp — what the operating system can tell about CPU time, memory, sockets and
// the machine. Linux only (/proc, per-thread CPU clocks, TCP_INFO).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace qsse::bench {

uint64_t now_ns();  // CLOCK_MONOTONIC
pid_t current_tid();
// Ids of this process's threads (/proc/self/task).
std::vector<pid_t> list_threads();
// CPU time of a thread of this process (ns); 0 if it has exited.
uint64_t thread_cpu_ns(pid_t tid);
uint64_t process_cpu_ns();
// CPU time of another process, all its threads (ns; clock-tick resolution); 0 if unreadable.
uint64_t other_process_cpu_ns(pid_t pid);
// Peak resident set size (VmHWM) of a process (0: this one), bytes; and its reset (Linux's
// clear_refs "5"). Returns false if the kernel refused.
uint64_t peak_rss_bytes(pid_t pid = 0);
bool reset_peak_rss(pid_t pid = 0);
// Payload bytes a TCP socket received and sent (TCP_INFO); false if unavailable.
bool tcp_bytes(int fd, uint64_t& received, uint64_t& sent);
// Sleeps until a CLOCK_MONOTONIC time (absolute, no drift).
void sleep_until_ns(uint64_t deadline_ns);
// Lets timed sleeps of this thread wake within ~1 us (the default slack is 50 us).
void tighten_timer_slack();

struct MachineFacts {
  unsigned cpus = 0;
  std::string kernel;
  std::string cpu_model;
  uint64_t memory_bytes = 0;
};
MachineFacts machine_facts();

}  // namespace qsse::bench
