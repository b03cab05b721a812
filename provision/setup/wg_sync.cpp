// `wg syncconf` of a running interface after a re-pairing; see wg_sync.hpp.
#include "setup/wg_sync.hpp"

#include "check/program.hpp"
#include "setup/keys.hpp"
#include "splitmail/durable/file.hpp"

#include <net/if.h>
#include <unistd.h>

#include <chrono>

namespace splitmail::provision::setup {

namespace fs = std::filesystem;
using check::run_program;

namespace {
std::string first_line(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    return s;
}
} // namespace

bool interface_here(const std::string& iface) {
    return !iface.empty() && ::if_nametoindex(iface.c_str()) != 0;
}

std::string wg_sync_command(const std::string& iface, const fs::path& conf) {
    return "wg syncconf " + iface + " <(wg-quick strip " + conf.string() + ")";
}

std::expected<wg_sync_result, std::string>
sync_running_interface(const std::string& iface, const fs::path& conf,
                       const std::string& expected_public_key, const std::string& expected_peer) {
    using namespace std::chrono_literals;
    auto keys_now = [&]() -> std::pair<std::string, std::string> {
        auto pub = run_program({"wg", "show", iface, "public-key"}, 5s);
        auto peers = run_program({"wg", "show", iface, "peers"}, 5s);
        return {pub.exit_code == 0 ? first_line(pub.output) : "",
                peers.exit_code == 0 ? first_line(peers.output) : ""};
    };
    // Another namespace's interface of the same name is not ours to rewrite (it answered on the
    // shared wireguard-go socket: CI saw a second setup re-key a running test's tunnel).
    if (!interface_here(iface)) return wg_sync_result::not_running;
    auto probe = run_program({"wg", "show", iface, "public-key"}, 5s);
    if (probe.not_found || probe.exit_code != 0) return wg_sync_result::not_running;
    auto [pub, peer] = keys_now();
    if (pub == expected_public_key && peer == expected_peer) return wg_sync_result::in_sync;

    const std::string by_hand = wg_sync_command(iface, conf);
    // stdout only (check::run_program mixes in stderr).
    auto stripped = setup::run_program({"wg-quick", "strip", conf.string()}, "");
    if (!stripped)
        return std::unexpected(stripped.error() + " (then run `" + by_hand + "` by hand)");
    // wg syncconf reads a file; the stripped text holds the private key: 0600, removed after.
    const fs::path tmp =
        fs::temp_directory_path() / ("splitmail-wg-" + std::to_string(::getpid()) + ".conf");
    durable::replace_options opt;
    opt.mode = 0600;
    if (auto w = durable::replace_file(tmp, *stripped, opt); !w)
        return std::unexpected(tmp.string() + ": " + w.error().text());
    auto r = run_program({"wg", "syncconf", iface, tmp.string()}, 10s);
    std::error_code ec;
    fs::remove(tmp, ec);
    if (r.exit_code != 0)
        return std::unexpected("wg syncconf " + iface + " failed: " + first_line(r.output) +
                               " (run `" + by_hand + "` by hand)");
    auto [pub2, peer2] = keys_now();
    if (pub2 != expected_public_key || peer2 != expected_peer)
        return std::unexpected("after wg syncconf the interface " + iface +
                               " still has other keys (public key " + pub2 + ", peer " + peer2 +
                               "); restart it: systemctl restart wg-quick@" + iface);
    return wg_sync_result::synced;
}

} // namespace splitmail::provision::setup
