/** Test fixtures shared by the permissions suites. */

/** Keto docs, "Ory Permission Language" / contrib/rewrites-example: User, Group, Folder, File. */
export const REWRITES_OPL = `
import { Namespace, SubjectSet, Context } from "@ory/keto-namespace-types"

class User implements Namespace {}

class Group implements Namespace {
  related: {
    members: (User | SubjectSet<Group, "members">)[]
  }
}

class Folder implements Namespace {
  related: {
    parents: Folder[]
    viewers: (User | SubjectSet<Group, "members">)[]
  }

  permits = {
    view: (ctx: Context): boolean =>
      this.related.viewers.includes(ctx.subject) ||
      this.related.parents.traverse((p) => p.permits.view(ctx)),
  }
}

class File implements Namespace {
  related: {
    parents: (File | Folder)[]
    viewers: (User | SubjectSet<Group, "members">)[]
    owners: (User | SubjectSet<Group, "members">)[]
    banned: User[]
  }

  // Some comment
  permits = {
    view: (ctx: Context): boolean =>
      (this.related.parents.traverse((p) => p.permits.view(ctx)) ||
        this.related.viewers.includes(ctx.subject) ||
        this.permits.edit(ctx)) &&
      !this.related.banned.includes(ctx.subject),

    edit: (ctx: Context) => this.related.owners.includes(ctx.subject),

    audit: (ctx: Context): boolean => this.permits.view(ctx) && this.permits.edit(ctx),
  }
}
`
