// Per-recipient Maildir delivery of one LMTP transaction; see delivery.hpp.
#include "lmtp/delivery.hpp"

#include "maildir/errors.hpp"

#include "splitmail/log/log.hpp"

#include <algorithm>

namespace splitmail::home::lmtp {

std::vector<std::string> mailbox_delivery::users_of(const delivery_job& job) {
    std::vector<std::string> users;
    for (const auto& r : job.rcpts)
        for (const auto& u : r.users)
            if (std::ranges::find(users, u) == users.end()) users.push_back(u);
    return users;
}

std::string mailbox_delivery::trace_prefix(const delivery_job& job) {
    auto users = users_of(job);
    // RFC 5322 3.6.7 trace field; Delivered-To only when it names the one reader (delivery.hpp).
    std::string out = "Return-Path: <" + job.sender + ">\r\n";
    if (users.size() == 1) out = maildir::trace_headers(job.sender, users.front());
    return out;
}

std::expected<std::shared_ptr<maildir::staged_message>, std::error_code>
mailbox_delivery::stage(const delivery_job& job) {
    auto msg = deliverer_.stage();
    if (!msg) return msg;
    (*msg)->append(trace_prefix(job)); // an error sticks in the message and fails the delivery
    return msg;
}

void mailbox_delivery::file_as_junk(maildir::staged_message& msg, std::string_view reason) const {
    if (!junk_folder_.empty()) msg.set_folder(junk_folder_);
}

void mailbox_delivery::deliver(const delivery_job& job,
                               std::shared_ptr<maildir::staged_message> msg,
                               std::string_view session_id,
                               std::function<void(std::vector<smtp::reply>)> done) {
    auto users = users_of(job);
    std::string folder = msg ? msg->folder() : std::string();
    auto finish = [rcpts = job.rcpts, users, done = std::move(done), folder,
                   id = std::string(session_id)](std::vector<maildir::delivered> results) {
        for (std::size_t i = 0; i < users.size() && i < results.size(); ++i) {
            const auto& d = results[i];
            if (d.ec)
                log::warn("deliver", id, "delivery failed",
                          {{"user", users[i]}, {"error", d.ec.message()}});
            else if (folder.empty())
                log::info("deliver", id, "delivered",
                          {{"user", users[i]}, {"file", d.file.filename().string()}});
            else
                log::info(
                    "deliver", id, "delivered",
                    {{"user", users[i]}, {"folder", folder}, {"file", d.file.filename().string()}});
        }
        std::vector<smtp::reply> replies;
        for (const auto& r : rcpts) {
            smtp::reply rep = smtp::make_reply(250, "2.0.0", "<" + r.address + "> delivered");
            for (const auto& u : r.users) {
                auto i = static_cast<std::size_t>(std::ranges::find(users, u) - users.begin());
                std::error_code ec =
                    i < results.size() ? results[i].ec : std::make_error_code(std::errc::io_error);
                if (ec) {
                    rep = maildir::reply_for_error(ec);
                    break;
                }
            }
            if (r.users.empty())
                rep = smtp::make_reply(451, "4.3.0", "Local error in delivery, try again later");
            replies.push_back(std::move(rep));
        }
        done(std::move(replies));
    };
    if (users.empty() || !msg) {
        std::vector<maildir::delivered> none(
            users.size(), maildir::delivered{std::make_error_code(std::errc::io_error), {}});
        return finish(std::move(none));
    }
    deliverer_.deliver_shared(std::move(msg), std::move(users), std::move(finish));
}

} // namespace splitmail::home::lmtp
