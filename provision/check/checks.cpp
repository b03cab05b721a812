// The list of checks; see checks.hpp.
#include "check/checks.hpp"

namespace splitmail::provision::check {

const std::vector<check_entry>& all_checks() {
    static const std::vector<check_entry> list{
        {"dns", check_dns, true, false},
        {"spf", check_spf, true, false},
        {"dkim", check_dkim, true, false},
        {"tlsa", check_tlsa, true, false},
        {"ptr", check_ptr, true, false},
        {"tls", check_tls, true, true},
        {"tunnel", check_tunnel, true, true},
        {"lmtp", check_lmtp, true, false},
        {"queue", check_queue, true, false},
        {"users", check_users, false, true},
        {"listeners", check_listeners, true, true},
        {"scanners", check_scanners, true, false},
        {"ddns", check_ddns, false, true},
    };
    return list;
}

} // namespace splitmail::provision::check
