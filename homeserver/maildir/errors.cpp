// errno -> LMTP reply; see errors.hpp.
#include "maildir/errors.hpp"

#include <cerrno>

namespace splitmail::home::maildir {

smtp::reply reply_for_errno(int err) {
    switch (err) {
    case ENOSPC:
    case EDQUOT: return smtp::make_reply(452, "4.2.2", "Mailbox full, try again later");
    case EFBIG:
        return smtp::make_reply(452, "4.3.4", "Message too big for the mail store right now");
    case EACCES:
    case EPERM:
    case EROFS:
    case ELOOP:
    case ENOTDIR:
    case ENAMETOOLONG:
        return smtp::make_reply(451, "4.3.5", "Mail store misconfigured, try again later");
    default: return smtp::make_reply(451, "4.3.0", "Local error in delivery, try again later");
    }
}

} // namespace splitmail::home::maildir
