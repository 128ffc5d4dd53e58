// test process (root): the issue 12 attribute ops against the real daemon — BACKUP_ATTRS stores
// the bytes with the sent mtime (stat of the stored file) and the mode only in metadata, bad
// attribute blocks are refused, MAKE_FOLDER's empty folder shows in LIST_ATTRS until deleted,
// and ClientV2 speaks all three; and every file and folder a worker makes is 0600 or 0700 whatever
// umask backupd was started with.
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "client/client_v2.h"
#include "client/connection.h"
#include "protocol/digest.h"
#include "protocol/wire_v2.h"
#include "tests/harness/temp_dir.h"
#include "tests/harness/v2_client.h"
#include "tests/integration/v2_user_test.h"

namespace backupd::testing {
namespace {

namespace v2 = protocol::v2;

constexpr uint32_t kUser = 7;
constexpr int64_t kMtime = 1700000000123456789;
constexpr uint16_t Code(v2::ResponseCode c) { return static_cast<uint16_t>(c); }

std::string BackupAttrs(const std::string& name, const std::string& content, uint32_t mode,
                        int64_t mtime_ns, const protocol::Digest& digest) {
  return v2::EncodeRequestPrefix(kUser, v2::Op::kBackupAttrs, name,
                                 v2::kAttributesSize + content.size()) +
         v2::EncodeAttributes({mode, mtime_ns}) + content + v2::EncodeDigestTrailer(digest);
}

std::string MakeFolder(const std::string& name, uint32_t mode, int64_t mtime_ns) {
  return v2::EncodeRequestPrefix(kUser, v2::Op::kMakeFolder, name, v2::kAttributesSize) +
         v2::EncodeAttributes({mode, mtime_ns});
}

int64_t MtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

// User 7 registered with `backupd user add`; a logged-in raw v2 connection per test.
class AttributesTest : public LoggedInV2UserTest {
 protected:
  AttributesTest() : LoggedInV2UserTest(kUser) {}
  std::vector<std::string> Settings() const override { return {"legacy_v1=loopback"}; }

  // LIST_ATTRS over c_: the decoded entries (empty for 1002).
  std::vector<v2::AttrEntry> ListAttrs() {
    EXPECT_TRUE(c_.Send(v2::EncodeRequestPrefix(kUser, v2::Op::kListAttrs, "", 0)));
    V2Response r = c_.Read();
    if (r.status == Code(v2::ResponseCode::kNoFiles)) return {};
    EXPECT_EQ(r.status, Code(v2::ResponseCode::kListOk)) << r.payload;
    Result<std::vector<v2::AttrEntry>> entries = v2::DecodeAttrEntries(r.payload);
    EXPECT_TRUE(entries.ok()) << entries.status().ToString();
    return entries.ok() ? *entries : std::vector<v2::AttrEntry>{};
  }

  std::string Stored(const std::string& name) const { return UserDir(kUser) + "/" + name; }
};

TEST_F(AttributesTest, BackupAttrsStoresTheBytesWithTheSentMtimeAndKeepsTheModeInMetadataOnly) {
  const std::string content("exact\0bytes\n", 12);
  ASSERT_TRUE(
      c_.Send(BackupAttrs("docs/a.txt", content, 06777, kMtime, protocol::Sha256Of(content))));
  ASSERT_EQ(c_.Read().status, Code(v2::ResponseCode::kOk)) << daemon_.Log();
  EXPECT_EQ(ReadFile(Stored("docs/a.txt")), content);
  struct stat st {};
  ASSERT_EQ(::lstat(Stored("docs/a.txt").c_str(), &st), 0);
  EXPECT_EQ(MtimeNs(st), kMtime);
  // The server never chmods a stored file to the client's mode: setuid, setgid and world bits
  // asked for stay metadata.
  EXPECT_TRUE(OwnedByNobodyWithMode(Stored("docs/a.txt"), S_IFREG, 0600));
  EXPECT_TRUE(
      daemon_.WaitForLogLine({"op=backup-attrs name=\"docs/a.txt\" status=212"}, Millis(5000)))
      << daemon_.Log();

  const std::vector<v2::AttrEntry> entries = ListAttrs();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].name, "docs");
  EXPECT_EQ(entries[0].kind, v2::EntryKind::kFolder);
  EXPECT_EQ(entries[0].attributes.mode, 0u);
  EXPECT_EQ(entries[1].name, "docs/a.txt");
  EXPECT_EQ(entries[1].kind, v2::EntryKind::kFile);
  EXPECT_EQ(entries[1].attributes.mode, 06777u);
  EXPECT_EQ(entries[1].attributes.mtime_ns, kMtime);
  EXPECT_EQ(entries[1].size, content.size());
  EXPECT_EQ(entries[1].sha256, protocol::Sha256Of(content));

  // Op 202's list is unchanged: files only, with the same mtime and digest.
  ASSERT_TRUE(c_.Send(v2::EncodeRequestPrefix(kUser, v2::Op::kList, "", 0)));
  V2Response list = c_.Read();
  ASSERT_EQ(list.status, Code(v2::ResponseCode::kListOk));
  std::string expected;
  v2::AppendListEntry(expected,
                      {"docs/a.txt", content.size(), kMtime, protocol::Sha256Of(content)});
  EXPECT_EQ(list.payload, expected);
}

TEST_F(AttributesTest, ADigestOverMoreThanTheFileBytesIs1016AndKeepsTheOldVersion) {
  ASSERT_TRUE(c_.Send(BackupAttrs("f", "old", 0644, 1, protocol::Sha256Of("old"))));
  ASSERT_EQ(c_.Read().status, Code(v2::ResponseCode::kOk));
  // A client that hashed the attributes block with the file.
  const std::string block = v2::EncodeAttributes({0644, 2});
  ASSERT_TRUE(c_.Send(BackupAttrs("f", "new", 0644, 2, protocol::Sha256Of(block + "new"))));
  EXPECT_EQ(c_.Read().status, Code(v2::ResponseCode::kDigestMismatch));
  EXPECT_EQ(ReadFile(Stored("f")), "old");
  struct stat st {};
  ASSERT_EQ(::lstat(Stored("f").c_str(), &st), 0);
  EXPECT_EQ(MtimeNs(st), 1);
  // The connection goes on.
  const std::vector<v2::AttrEntry> entries = ListAttrs();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].attributes.mtime_ns, 1);
}

TEST_F(AttributesTest, BadAttributeBlocksAndShortSizesAre1003AndClose) {
  std::string reserved = BackupAttrs("r", "x", 0644, 1, protocol::Sha256Of("x"));
  reserved[v2::kRequestHeaderSize + 1 + 4] = '\x01';
  const std::string cases[] = {
      BackupAttrs("m", "x", 010000, 1, protocol::Sha256Of("x")),
      reserved,
      MakeFolder("d", 0100755, 1),
      v2::EncodeRequestPrefix(kUser, v2::Op::kBackupAttrs, "s", 15) + std::string(15, '\0'),
      v2::EncodeRequestPrefix(kUser, v2::Op::kMakeFolder, "s", 17) + std::string(17, '\0'),
  };
  for (const std::string& bytes : cases) {
    V2Client c;
    ASSERT_TRUE(c.Connect(daemon_.port()));
    ASSERT_EQ(c.Login(kUser, secret_), Code(v2::ResponseCode::kAuthOk));
    ASSERT_TRUE(c.Send(bytes));
    EXPECT_EQ(c.Read().status, Code(v2::ResponseCode::kError));
    // Closed: no answer to anything after it.
    c.Send(v2::EncodeRequestPrefix(kUser, v2::Op::kListAttrs, "", 0));
    EXPECT_EQ(c.Read().status, 0u);
  }
  EXPECT_TRUE(ListAttrs().empty());
}

TEST_F(AttributesTest, AnEmptyFolderIsListedWithItsModeUntilDeleted) {
  ASSERT_TRUE(c_.Send(MakeFolder("photos/2024", 0750, kMtime)));
  ASSERT_EQ(c_.Read().status, Code(v2::ResponseCode::kOk)) << daemon_.Log();
  EXPECT_TRUE(OwnedByNobodyWithMode(Stored("photos/2024"), S_IFDIR, 0700));
  std::vector<v2::AttrEntry> entries = ListAttrs();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].name, "photos");
  EXPECT_EQ(entries[0].kind, v2::EntryKind::kFolder);
  EXPECT_EQ(entries[1].name, "photos/2024");
  EXPECT_EQ(entries[1].kind, v2::EntryKind::kFolder);
  EXPECT_EQ(entries[1].attributes.mode, 0750u);
  EXPECT_EQ(entries[1].attributes.mtime_ns, kMtime);
  EXPECT_EQ(entries[1].size, 0u);
  EXPECT_EQ(entries[1].sha256, protocol::Digest{});
  // Op 202 lists files only: there are none.
  ASSERT_TRUE(c_.Send(v2::EncodeRequestPrefix(kUser, v2::Op::kList, "", 0)));
  EXPECT_EQ(c_.Read().status, Code(v2::ResponseCode::kNoFiles));

  // A folder over a stored file is refused, and the connection goes on.
  ASSERT_EQ(c_.Backup(kUser, "photos/2024/x.jpg", "jpeg"), Code(v2::ResponseCode::kOk));
  ASSERT_TRUE(c_.Send(MakeFolder("photos/2024/x.jpg", 0700, 1)));
  V2Response clash = c_.Read();
  EXPECT_EQ(clash.status, Code(v2::ResponseCode::kError));
  EXPECT_NE(clash.payload.find("is a stored file"), std::string::npos) << clash.payload;
  // Not while it holds a file; the file's delete leaves it, as the user asked for it.
  ASSERT_TRUE(c_.Send(v2::EncodeRequestPrefix(kUser, v2::Op::kDelete, "photos/2024", 0)));
  EXPECT_EQ(c_.Read().status, Code(v2::ResponseCode::kError));
  ASSERT_TRUE(c_.Send(v2::EncodeRequestPrefix(kUser, v2::Op::kDelete, "photos/2024/x.jpg", 0)));
  ASSERT_EQ(c_.Read().status, Code(v2::ResponseCode::kOk));
  EXPECT_EQ(ListAttrs().size(), 2u);
  ASSERT_TRUE(c_.Send(v2::EncodeRequestPrefix(kUser, v2::Op::kDelete, "photos/2024", 0)));
  ASSERT_EQ(c_.Read().status, Code(v2::ResponseCode::kOk));
  EXPECT_TRUE(ListAttrs().empty());
  EXPECT_FALSE(PathExists(Stored("photos")));
  // The access log names the new ops.
  EXPECT_TRUE(
      daemon_.WaitForLogLine({"op=make-folder name=\"photos/2024\" status=212"}, Millis(5000)))
      << daemon_.Log();
  EXPECT_TRUE(daemon_.WaitForLogLine({"op=list-attrs", "status=1002"}, Millis(5000)));
}

TEST_F(AttributesTest, VersionOneSeesNoFolderAndCannotDeleteOne) {
  ASSERT_TRUE(c_.Send(MakeFolder("kept", 0700, 1)));
  ASSERT_EQ(c_.Read().status, Code(v2::ResponseCode::kOk));
  // v1's answers are what they were before folders had attributes.
  EXPECT_TRUE(HasStatus(CallOnce(kUser, protocol::Op::kList, ""), kNoFiles));
  EXPECT_TRUE(HasStatus(CallOnce(kUser, protocol::Op::kDelete, "kept"), kNotFound));
  EXPECT_TRUE(PathExists(Stored("kept/.backupd-folder")));
  EXPECT_EQ(ListAttrs().size(), 1u);
}

TEST_F(AttributesTest, ClientV2UploadsWithAttributesMakesFoldersAndListsThem) {
  const std::string local = dir_.Sub("local.txt");
  ASSERT_TRUE(WriteFile(local, "client bytes"));
  Result<client::Connection> conn =
      client::Connection::Open({"127.0.0.1", daemon_.port()}, std::chrono::seconds(10));
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  client::ClientV2 cli(std::move(*conn), kUser);
  Result<client::ReplyV2> login = cli.Login(secret_);
  ASSERT_TRUE(login.ok());
  ASSERT_EQ(login->status, Code(v2::ResponseCode::kAuthOk));

  // The folder is made in the same pipelined run as the files.
  std::vector<client::Upload> uploads = {{local, "t/with", v2::Attributes{0640, -7}},
                                         {"", "t/empty", v2::Attributes{0705, 99}, true},
                                         {local, "t/without"}};
  std::vector<uint16_t> statuses;
  cli.Backup(uploads, [&](size_t, const Result<client::ReplyV2>& r) {
    statuses.push_back(r.ok() ? r->status : 0);
  });
  EXPECT_EQ(statuses, (std::vector<uint16_t>{212, 212, 212}));

  Result<client::ListAttrsReplyV2> list = cli.ListAttrs();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->reply.status, 211);
  ASSERT_EQ(list->entries.size(), 4u);
  EXPECT_EQ(list->entries[0].name, "t");
  EXPECT_EQ(list->entries[1].name, "t/empty");
  EXPECT_EQ(list->entries[1].attributes.mode, 0705u);
  EXPECT_EQ(list->entries[1].attributes.mtime_ns, 99);
  EXPECT_EQ(list->entries[2].name, "t/with");
  EXPECT_EQ(list->entries[2].attributes.mode, 0640u);
  EXPECT_EQ(list->entries[2].attributes.mtime_ns, -7);
  EXPECT_EQ(list->entries[2].sha256, protocol::Sha256Of("client bytes"));
  EXPECT_EQ(list->entries[3].name, "t/without");
  EXPECT_EQ(list->entries[3].attributes.mode, 0u);
  struct stat st {};
  ASSERT_EQ(::lstat(Stored("t/with").c_str(), &st), 0);
  EXPECT_EQ(MtimeNs(st), -7);
}

// backupd started with a umask that strips the owner's own bits (0277): the workers' own umask
// (077, worker/privdrop.cc) is what makes the create calls' modes exact, without an fchmod. (A
// umask of 0 would prove nothing: 0600 and 0700 pass through it unchanged.)
class OwnerStrippingUmaskTest : public AttributesTest {
 protected:
  DaemonOptions Options() const override {
    DaemonOptions o = AttributesTest::Options();
    o.umask = 0277;
    return o;
  }
};

TEST_F(OwnerStrippingUmaskTest,
       StoredFilesSidecarsAndFoldersAreTheWorkerUsersAloneWhateverTheUmask) {
  const std::string content = "private";
  ASSERT_TRUE(
      c_.Send(BackupAttrs("docs/a.txt", content, 0666, kMtime, protocol::Sha256Of(content))));
  ASSERT_EQ(c_.Read().status, Code(v2::ResponseCode::kOk)) << daemon_.Log();
  ASSERT_TRUE(c_.Send(MakeFolder("empty", 0777, kMtime)));
  ASSERT_EQ(c_.Read().status, Code(v2::ResponseCode::kOk)) << daemon_.Log();
  EXPECT_TRUE(OwnedByNobodyWithMode(Stored("docs"), S_IFDIR, 0700));
  EXPECT_TRUE(OwnedByNobodyWithMode(Stored("docs/a.txt"), S_IFREG, 0600));
  // The digest is kept on the file itself, or, where the file system keeps no user attributes,
  // in a sidecar beside it, which is made as the file is.
  std::vector<std::string> sidecars;
  for (const auto& e : std::filesystem::directory_iterator(Stored("docs"))) {
    const std::string leaf = e.path().filename().string();
    if (leaf.rfind(".backupd-sha256-", 0) == 0) sidecars.push_back(e.path().string());
  }
  if (sidecars.empty()) {
    char record[128];
    EXPECT_EQ(
        ::getxattr(Stored("docs/a.txt").c_str(), "user.backupd.sha256", record, sizeof record), 56);
  } else {
    ASSERT_EQ(sidecars.size(), 1u);
    EXPECT_TRUE(OwnedByNobodyWithMode(sidecars[0], S_IFREG, 0600));
  }
  EXPECT_TRUE(OwnedByNobodyWithMode(Stored("empty"), S_IFDIR, 0700));
  EXPECT_TRUE(OwnedByNobodyWithMode(Stored("empty/.backupd-folder"), S_IFREG, 0600));
}

}  // namespace
}  // namespace backupd::testing
