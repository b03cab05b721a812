# Throwaway Postfix and Dovecot instances for bench/inbound (sourced by bench/inbound/run).
# Never touches the system instances: Postfix runs with `postfix -c DIR` (own main.cf, master.cf,
# queue), Dovecot with `dovecot -c FILE` (own base_dir, LMTP only). Both durable: Postfix fsyncs
# each queue file before 250 (cleanup), Dovecot fsyncs each Maildir file before the LMTP 250
# (mail_fsync = optimized, its default, written out explicitly).

# dovecot_setup DIR LMTP_PORT USER_ADDRESS -> writes DIR/dovecot.conf, Maildir under DIR/mail
dovecot_setup() {
  local dir=$1 port=$2 user=$3
  local local_part=${user%@*} domain=${user#*@}
  mkdir -p "$dir/run" "$dir/state" "$dir/mail"
  chown mail:mail "$dir/mail"
  # passwd-file: the one known user (unknown recipients get 550, as with splitmail-home).
  echo "$user:{PLAIN}unused:8:8::$dir/mail/$domain/$local_part::" > "$dir/users"
  cat > "$dir/dovecot.conf" <<CONF
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
info_log_path = $dir/dovecot.log
protocols = lmtp
listen = 127.0.0.1
ssl = no
first_valid_uid = 8
last_valid_uid = 8
mail_location = maildir:~/
mail_fsync = optimized
maildir_very_dirty_syncs = yes
recipient_delimiter = +
lmtp_save_to_detail_mailbox = no
default_internal_user = dovecot
default_login_user = dovenull
passdb {
  driver = passwd-file
  args = $dir/users
}
userdb {
  driver = passwd-file
  args = $dir/users
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $port
  }
  process_min_avail = 4
}
service anvil {
  chroot =
}
CONF
}

dovecot_start() { dovecot -c "$1/dovecot.conf"; }
dovecot_stop() { doveadm -c "$1/dovecot.conf" stop 2>/dev/null || true; }

# postfix_setup DIR SMTP_PORT LMTP_PORT DOMAIN USER_ADDRESS
# (env PF_PROCESS_LIMIT, PF_MESSAGE_SIZE_LIMIT: default_process_limit, message_size_limit;
# unset they are 100 and Postfix's own default. PF_MILTERS: smtpd_milters. PF_POLICY_SPF: the
# config file of a postfix-policyd-spf-python policy service asked at RCPT. PF_PEERNAME_LOOKUP:
# smtpd_peername_lookup, default no.)
postfix_setup() {
  local dir=$1 port=$2 lmtp=$3 domain=$4 user=$5
  mkdir -p "$dir/conf" "$dir/queue" "$dir/data"
  chown postfix "$dir/data"
  echo "$user OK" > "$dir/conf/recipients"
  cat > "$dir/conf/main.cf" <<CONF
compatibility_level = 3.6
config_directory = $dir/conf
queue_directory = $dir/queue
data_directory = $dir/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix-bench.example.test
mydomain = example.test
myorigin = \$myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
maillog_file = $dir/maillog
maillog_file_prefixes = $dir
# the bench's mail domain is relayed to Dovecot over LMTP, recipients validated like splitmail
relay_domains = $domain
relay_recipient_maps = texthash:$dir/conf/recipients
relay_transport = lmtp:inet:127.0.0.1:$lmtp
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions =${PF_POLICY_SPF:+ check_policy_service unix:private/policyd-spf}
${PF_POLICY_SPF:+policyd-spf_time_limit = 3600}
smtpd_peername_lookup = ${PF_PEERNAME_LOOKUP:-no}
smtp_host_lookup = native
lmtp_host_lookup = native
disable_dns_lookups = yes
biff = no
default_process_limit = ${PF_PROCESS_LIMIT:-100}
message_size_limit = ${PF_MESSAGE_SIZE_LIMIT:-10240000}
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
in_flow_delay = 0
alias_maps =
alias_database =
local_recipient_maps =
notify_classes =
${PF_MILTERS:+smtpd_milters = $PF_MILTERS}
${PF_MILTERS:+milter_default_action = tempfail}
${PF_MILTERS:+milter_protocol = 6}
CONF
  cat > "$dir/conf/master.cf" <<CONF
127.0.0.1:$port inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
${PF_POLICY_SPF:+policyd-spf unix - n n - 0 spawn user=policyd-spf argv=/usr/bin/policyd-spf $PF_POLICY_SPF}
CONF
  # postfix prints its fatal errors only to a terminal (else syslog): give it one via script(1).
  script -qec "postfix -c $dir/conf check" /dev/null
}

postfix_start() { script -qec "postfix -c $1/conf start" /dev/null; }
postfix_stop() { postfix -c "$1/conf" stop >/dev/null 2>&1 || true; }

# sender_auth_setup DIR DKIM_PORT DMARC_PORT NAMESERVER AUTHSERV_ID (bench --auth)
# The sender authentication Postfix is usually given: OpenDKIM verifying (Mode v) and OpenDMARC
# as milters, postfix-policyd-spf-python as the policy service. Writes DIR/opendkim.conf,
# DIR/opendmarc.conf and DIR/policyd-spf.conf; one authserv-id for all three, so OpenDMARC
# trusts the SPF and DKIM results of the other two. What the packages default to and would
# skip here: mail from 127.0.0.1 (OpenDKIM InternalHosts signs it instead of verifying,
# OpenDMARC IgnoreHosts and policyd-spf skip_addresses pass it unchecked), so each gets a
# documentation address (RFC 5737) instead. Like the relay: DMARC p=reject failures refused
# (RejectFailures), SPF fail refused at RCPT (policyd-spf's default), HELO not checked (the
# relay checks HELO only for the null sender), keys under 1024 bits fail.
sender_auth_setup() {
  local dir=$1 dkim_port=$2 dmarc_port=$3 ns=$4 authserv=$5
  mkdir -p "$dir"
  echo 192.0.2.1 > "$dir/ignore-hosts"
  cat > "$dir/opendkim.conf" <<CONF
Mode v
Socket inet:$dkim_port@127.0.0.1
Syslog no
UserID opendkim
AuthservID $authserv
InternalHosts csl:192.0.2.1
Nameservers $ns
AlwaysAddARHeader yes
MinimumKeyBits 1024
DNSTimeout 5
CONF
  cat > "$dir/opendmarc.conf" <<CONF
Socket inet:$dmarc_port@127.0.0.1
Syslog false
UserID opendmarc
AuthservID $authserv
TrustedAuthservIDs $authserv
IgnoreHosts $dir/ignore-hosts
RejectFailures true
SPFIgnoreResults false
SPFSelfValidate false
FailureReports false
RequiredHeaders false
PublicSuffixList /usr/share/publicsuffix/public_suffix_list.dat
DNSTimeout 5
CONF
  cat > "$dir/policyd-spf.conf" <<CONF
debugLevel = 0
TestOnly = 1
HELO_reject = No_Check
Mail_From_reject = Fail
PermError_reject = False
TempError_Defer = False
skip_addresses = 192.0.2.1/32
Header_Type = AR
Authserv_Id = $authserv
CONF
  chmod 644 "$dir"/*.conf
}
