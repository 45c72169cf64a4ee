/**
 * The replies of a manager that are under way: a list whose links the replies hold, so that a
 * reply is added and removed without hashing it.
 *
 * @module
 */

import { type NetworkReply, replyLink, setReplyLink } from "../reply.ts";

/** A reply's place in a list. */
interface Link {
  list: RunningReplies;
  reply: NetworkReply;
  previous: Link | undefined;
  next: Link | undefined;
}

/** The running replies of a manager, in the order they started. */
export class RunningReplies {
  #first: Link | undefined;
  #last: Link | undefined;

  /** Adds a reply at the end; it must be in no list. */
  add(reply: NetworkReply): void {
    const link: Link = { list: this, reply, previous: this.#last, next: undefined };
    if (this.#last === undefined) this.#first = link;
    else this.#last.next = link;
    this.#last = link;
    setReplyLink(reply, link);
  }

  /** Removes a reply; does nothing when it is not in this list. */
  delete(reply: NetworkReply): void {
    const link = replyLink(reply) as Link | undefined;
    if (link === undefined || link.list !== this) return;
    if (link.previous === undefined) this.#first = link.next;
    else link.previous.next = link.next;
    if (link.next === undefined) this.#last = link.previous;
    else link.next.previous = link.previous;
    setReplyLink(reply, undefined);
  }

  /** The replies, in the order they were added. */
  toArray(): NetworkReply[] {
    const replies: NetworkReply[] = [];
    for (let link = this.#first; link !== undefined; link = link.next) replies.push(link.reply);
    return replies;
  }
}
