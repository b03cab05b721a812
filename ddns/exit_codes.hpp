#pragma once
// Exit codes of splitmail-ddns. Configuration problems have their own codes so that systemd
// (RestartPreventExitStatus in packaging/systemd/splitmail-ddns.service) and scripts can tell
// "fix the configuration" from "try again later"; none of them leads to a restart loop.
namespace splitmail::ddns::exit_code {

inline constexpr int ok = 0;
inline constexpr int failure = 1;          // deSEC refused the change (400); see the log
inline constexpr int usage = 2;            // bad command line
inline constexpr int bad_token = 10;       // deSEC answered 401: the token is wrong or revoked
inline constexpr int forbidden = 11;       // 403: the token's policy does not allow this write
inline constexpr int unknown_domain = 12;  // 404: domain unknown or not in the token's account
inline constexpr int address_refused = 13; // --once: a detected address may not be published
inline constexpr int tempfail = 75;        // --once: network, 5xx, 429 or limits; retry later
inline constexpr int config = 78;          // config file or token file unusable

} // namespace splitmail::ddns::exit_code
