/** The courier's admin operations for the admin listener's OpenAPI document, with Kratos' operationIds. */
import type { Operations } from 'tessera'
import { ListQuery } from './routes.ts'

const COURIER = ['courier']

export const courierOperations: Operations = {
  admin: [
    {
      method: 'GET',
      path: '/admin/courier/messages',
      operationId: 'listCourierMessages',
      summary: 'List courier messages (newest first), by status and recipient',
      tags: COURIER,
      query: ListQuery,
      responses: { 200: 'A page of messages (Kratos\' `message`; codes and links redacted). Link header: first and next', 400: 'An unknown status, a bad page size or page token' },
    },
    {
      method: 'GET',
      path: '/admin/courier/messages/:id',
      operationId: 'getCourierMessage',
      summary: 'Get a courier message with its dispatches',
      tags: COURIER,
      responses: { 200: 'The message and its delivery attempts', 400: 'The id is not a UUID', 404: 'No such message' },
    },
  ],
}
