#pragma once
// What checking a submission credential gave (relay/submission/authenticator.hpp decides it;
// the SMTP session, smtp_in/session.hpp, acts on it). Its own header so the authenticator does
// not include the session (relay/ includes only downwards).
#include <string>
#include <vector>

namespace splitmail::relay {

struct auth_outcome {
    enum class status { ok, bad, temporary };
    status st = status::bad;
    std::string user;                   // canonical login (ok)
    std::vector<std::string> addresses; // lower-case addresses the user may send as (ok)
};

} // namespace splitmail::relay
