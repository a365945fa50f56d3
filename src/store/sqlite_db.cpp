#include "store/sqlite_db.h"

#include <sqlite3.h>

#include <utility>

namespace ktsync {
namespace {

std::string Describe(sqlite3* db, int rc) {
  // sqlite3_errmsg can lag behind rc (e.g. after a failed open); the code's own text never does.
  std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  if (msg == "not an error" || msg.empty()) msg = sqlite3_errstr(rc);
  return msg;
}

int ExtendedCode(sqlite3* db, int rc) {
  int ext = db ? sqlite3_extended_errcode(db) : rc;
  return (ext & 0xff) == (rc & 0xff) ? ext : rc;
}

}  // namespace

bool SqliteError::IsCorrupt() const {
  return primary() == SQLITE_CORRUPT || primary() == SQLITE_NOTADB;
}

bool SqliteError::IsBusy() const { return primary() == SQLITE_BUSY || primary() == SQLITE_LOCKED; }

// ---- SqliteStmt

SqliteStmt::SqliteStmt(SqliteStmt&& o) noexcept
    : stmt_(std::exchange(o.stmt_, nullptr)), db_(std::exchange(o.db_, nullptr)) {}

SqliteStmt& SqliteStmt::operator=(SqliteStmt&& o) noexcept {
  if (this != &o) {
    sqlite3_finalize(stmt_);
    stmt_ = std::exchange(o.stmt_, nullptr);
    db_ = std::exchange(o.db_, nullptr);
  }
  return *this;
}

SqliteStmt::~SqliteStmt() { sqlite3_finalize(stmt_); }

void SqliteStmt::Check(int rc) const {
  if (rc != SQLITE_OK) throw SqliteError(ExtendedCode(db_, rc), Describe(db_, rc));
}

void SqliteStmt::BindInt64(int idx, int64_t v) { Check(sqlite3_bind_int64(stmt_, idx, v)); }

void SqliteStmt::BindBlob(int idx, const void* data, size_t len) {
  // A null pointer would bind SQL NULL, not an empty blob.
  static const char kEmpty = 0;
  if (len == 0) data = &kEmpty;
  Check(sqlite3_bind_blob64(stmt_, idx, data, len, SQLITE_STATIC));
}

void SqliteStmt::BindText(int idx, std::string_view text) {
  Check(sqlite3_bind_text64(stmt_, idx, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8));
}

bool SqliteStmt::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  // Since 3.7.15 sqlite3_step returns the detailed code directly; reset clears the state.
  SqliteError err(ExtendedCode(db_, rc), Describe(db_, rc));
  sqlite3_reset(stmt_);
  throw err;
}

void SqliteStmt::Reset() {
  // The error (if any) of the last Step was already thrown there.
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int64_t SqliteStmt::ColumnInt64(int col) const { return sqlite3_column_int64(stmt_, col); }

std::string_view SqliteStmt::ColumnBlob(int col) const {
  const void* p = sqlite3_column_blob(stmt_, col);
  int n = sqlite3_column_bytes(stmt_, col);
  if (!p || n <= 0) return {};
  return {static_cast<const char*>(p), static_cast<size_t>(n)};
}

bool SqliteStmt::ColumnIsNull(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

// ---- SqliteDb

SqliteDb SqliteDb::Open(const std::string& path, int flags) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    SqliteError err(ExtendedCode(db, rc), Describe(db, rc));
    sqlite3_close_v2(db);  // allocated even on most failures
    throw err;
  }
  sqlite3_extended_result_codes(db, 1);
  return SqliteDb(db);
}

SqliteDb::SqliteDb(SqliteDb&& o) noexcept : db_(std::exchange(o.db_, nullptr)) {}

SqliteDb& SqliteDb::operator=(SqliteDb&& o) noexcept {
  if (this != &o) {
    Close();
    db_ = std::exchange(o.db_, nullptr);
  }
  return *this;
}

SqliteDb::~SqliteDb() { Close(); }

void SqliteDb::Close() {
  // close_v2 defers the real close if a statement is still alive instead of failing.
  sqlite3_close_v2(std::exchange(db_, nullptr));
}

void SqliteDb::Exec(const std::string& sql) {
  char* errmsg = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &errmsg);
  if (rc != SQLITE_OK) {
    std::string msg = errmsg ? errmsg : sqlite3_errstr(rc);
    sqlite3_free(errmsg);
    throw SqliteError(ExtendedCode(db_, rc), msg);
  }
}

SqliteStmt SqliteDb::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) throw SqliteError(ExtendedCode(db_, rc), Describe(db_, rc));
  return SqliteStmt(stmt, db_);
}

int64_t SqliteDb::QueryInt(const std::string& sql) {
  SqliteStmt st = Prepare(sql);
  return st.Step() ? st.ColumnInt64(0) : 0;
}

std::string SqliteDb::QueryText(const std::string& sql) {
  SqliteStmt st = Prepare(sql);
  if (!st.Step()) return {};
  return std::string(st.ColumnBlob(0));
}

void SqliteDb::SetBusyTimeoutMs(int ms) {
  int rc = sqlite3_busy_timeout(db_, ms);
  if (rc != SQLITE_OK) throw SqliteError(ExtendedCode(db_, rc), Describe(db_, rc));
}

}  // namespace ktsync
