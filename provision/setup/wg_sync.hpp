#pragma once
// Bringing a running WireGuard interface to the keys of its wg-quick file after a re-pairing
// (issue 16 bug 3): `wg syncconf IFACE <(wg-quick strip FILE)`, which changes keys and peers
// without taking the interface down (the routes and addresses wg-quick set stay).
//
// Guarantees: nothing happens when the interface does not exist in this network namespace
// (not running, or only another namespace's wireguard-go answers on the shared socket: the next
// `wg-quick up` / `systemctl start wg-quick@IFACE` reads the file anyway); after a sync the
// running interface's public key is compared with the one derived from the file, so "synced"
// means the interface really has the new key. Every program runs without a shell, with a time
// limit; errors name the command to run by hand.
// Does not: bring an interface up or down, or decide keys.
#include <expected>
#include <filesystem>
#include <string>

namespace splitmail::provision::setup {

enum class wg_sync_result {
    not_running, // no such interface (or wg is not installed)
    in_sync,     // running with the file's keys already
    synced,      // was different, now has the file's keys
};

// `expected_public_key`: the public key of the file's PrivateKey (wg pubkey).
std::expected<wg_sync_result, std::string>
sync_running_interface(const std::string& iface, const std::filesystem::path& conf,
                       const std::string& expected_public_key, const std::string& expected_peer);

// True when a network interface of that name exists in this process's network namespace.
// wireguard-go's control sockets (/var/run/wireguard/NAME.sock) are shared by every namespace,
// so `wg show NAME` also answers for an interface of another namespace (a container, a test,
// a second instance): only an interface that is here is this machine's tunnel.
bool interface_here(const std::string& iface);

// The command an admin types to do the same by hand.
std::string wg_sync_command(const std::string& iface, const std::filesystem::path& conf);

} // namespace splitmail::provision::setup
