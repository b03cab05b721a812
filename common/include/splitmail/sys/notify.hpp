#pragma once
// systemd readiness notification (sd_notify protocol, Type=notify units) without libsystemd:
// one datagram to the AF_UNIX socket named in $NOTIFY_SOCKET ("/path" or "@abstract").
//
// Guarantees: a no-op returning true when NOTIFY_SOCKET is unset (not run by systemd, tests);
// never throws; the socket is closed before returning.
// Does not: unset NOTIFY_SOCKET, send file descriptors, or implement the watchdog.
#include <string_view>

namespace splitmail::sys {

// Sends `state` ("READY=1", "STOPPING=1", "RELOADING=1", "STATUS=...", several joined by '\n').
// Returns false when a socket was named but the message could not be sent.
bool notify(std::string_view state);

} // namespace splitmail::sys
