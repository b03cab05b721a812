// Per-recipient Maildir delivery of one LMTP transaction; see delivery.hpp.
#include "lmtp/delivery.hpp"

#include "maildir/errors.hpp"

#include "splitmail/log/log.hpp"

#include <algorithm>
#include <map>
#include <mutex>

namespace splitmail::home::lmtp {

void mailbox_delivery::deliver(const delivery_job& job, std::string_view session_id,
                               std::function<void(std::vector<smtp::reply>)> done) {
    struct shared {
        std::mutex mu;
        std::map<std::string, std::error_code> results; // per distinct user
        std::size_t left = 0;
        std::vector<accepted_rcpt> rcpts;
        std::function<void(std::vector<smtp::reply>)> done;
        std::string id;
    };
    auto st = std::make_shared<shared>();
    st->rcpts = job.rcpts;
    st->done = std::move(done);
    st->id = std::string(session_id);
    std::vector<std::string> users;
    for (const auto& r : job.rcpts)
        for (const auto& u : r.users)
            if (std::ranges::find(users, u) == users.end()) users.push_back(u);
    st->left = users.size();

    auto finish = [](const std::shared_ptr<shared>& s) {
        std::vector<smtp::reply> replies;
        for (const auto& r : s->rcpts) {
            smtp::reply rep = smtp::make_reply(250, "2.0.0", "<" + r.address + "> delivered");
            for (const auto& u : r.users) {
                auto ec = s->results[u];
                if (ec) {
                    rep = maildir::reply_for_error(ec);
                    break;
                }
            }
            if (r.users.empty())
                rep = smtp::make_reply(451, "4.3.0", "Local error in delivery, try again later");
            replies.push_back(std::move(rep));
        }
        s->done(std::move(replies));
    };
    if (users.empty()) return finish(st);

    for (const auto& u : users) {
        deliverer_.deliver(u, maildir::trace_headers(job.sender, u), job.body,
                           [st, u, finish](maildir::delivered d) {
                               if (d.ec)
                                   log::warn("deliver", st->id, "delivery failed",
                                             {{"user", u}, {"error", d.ec.message()}});
                               else
                                   log::info("deliver", st->id, "delivered",
                                             {{"user", u}, {"file", d.file.filename().string()}});
                               bool last;
                               {
                                   std::lock_guard lock(st->mu);
                                   st->results[u] = d.ec;
                                   last = --st->left == 0;
                               }
                               if (last) finish(st);
                           });
    }
}

} // namespace splitmail::home::lmtp
