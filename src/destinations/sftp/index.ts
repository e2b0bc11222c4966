import type { DestinationDefinition } from "../types.ts";
import { connectSftp } from "./connect.ts";
import { type SftpConnection, type SftpDetails, sftpConnectionSchema, sftpDetailsSchema } from "./schemas.ts";
import { checkRemoteWritable, closeLink, openSftpSession, resolveRemoteFolder } from "./session.ts";

/**
 * Any SSH server with SFTP (OpenSSH and the managed services built on it). Logs in with a password
 * or a private key, optionally pinning the server's host key. Uploads keep many write requests in
 * flight, are verified by size and renamed over the final name in one step.
 */
export const sftpDestination: DestinationDefinition<SftpConnection, SftpDetails> = {
  id: "sftp",
  name: "SFTP",
  description: "Files delivered to a folder on an SFTP server, with a password or an SSH key",
  category: "cloud_storage",
  exportType: "profile",
  connectionSchema: sftpConnectionSchema,
  secretFields: ["password", "privateKey", "passphrase"],
  detailsSchema: sftpDetailsSchema,
  connector: {
    kind: "file",
    async validate(connection, details, signal) {
      const link = await connectSftp(connection, signal);
      try {
        await checkRemoteWritable(link, await resolveRemoteFolder(link, details));
      } finally {
        await closeLink(link);
      }
    },
    open: openSftpSession,
  },
};
