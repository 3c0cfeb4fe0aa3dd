# frozen_string_literal: true

# POST /infoshare/issues/:id/redact.json: remove personal text from an issue
# when a retention review anonymises it. Redmine's REST API can change a value
# but not its history, nor a note's text; this carries out exactly what the
# service lists, in one transaction:
#   custom_field_ids, attributes  values replaced with the marker, now and in
#                                 every journal's old and new values
#   journal_ids                   these journals' notes replaced with the marker
#   attachment_ids                these attachments deleted (files included),
#                                 and every attachment name in the history redacted
# The service decides what to remove. Only a member whose role holds the
# permission :infoshare_redact_history may call it (provisioning grants it to
# the InfoShare service's role only); everyone else, administrators and
# project managers included, gets 403.
class InfoshareRedactionsController < ApplicationController
  ATTRIBUTES = %w[subject description].freeze

  accept_api_auth :create
  before_action :find_issue_to_redact, :authorize_redaction

  def create
    marker = params[:marker].to_s
    if marker.blank?
      render json: {'errors' => ['marker is required']}, status: :unprocessable_entity
      return
    end

    counts = nil
    RedmineInfoshare::SecureErase.before
    Issue.transaction do
      counts = {
        'attachments' => delete_attachments,
        'fields' => redact_current_values(marker),
        'notes' => redact_notes(marker),
        'history' => redact_history(marker)
      }
    end
    RedmineInfoshare::SecureErase.after_commit
    render json: counts
  end

  private

  def field_ids
    @field_ids ||= Array(params[:custom_field_ids]).map {|id| id.to_i.to_s }
  end

  def attributes
    @attributes ||= Array(params[:attributes]).map(&:to_s) & ATTRIBUTES
  end

  def delete_attachments
    ids = Array(params[:attachment_ids]).map(&:to_i)
    # Destroyed directly rather than through the issue, so Redmine writes no
    # journal repeating the file's name.
    Attachment.where(container_type: 'Issue', container_id: @issue.id, id: ids).destroy_all.size
  end

  def redact_current_values(marker)
    changed = 0
    CustomValue.where(customized_type: 'Issue', customized_id: @issue.id, custom_field_id: field_ids).find_each do |value|
      next if value.value.blank? || value.value == marker

      value.update_columns(value: marker)
      changed += 1
    end
    attributes.each do |name|
      current = @issue.read_attribute(name)
      next if current.blank? || current == marker

      @issue.update_columns(name => marker)
      changed += 1
    end
    changed
  end

  def redact_notes(marker)
    journals = Journal.where(journalized_type: 'Issue', journalized_id: @issue.id, id: Array(params[:journal_ids]).map(&:to_i))
    journals.where.not(notes: [nil, '', marker]).update_all(notes: marker)
  end

  def redact_history(marker)
    details = JournalDetail.joins(:journal).where(journals: {journalized_type: 'Issue', journalized_id: @issue.id})
    targets = details.where(property: 'cf', prop_key: field_ids)
                     .or(details.where(property: 'attr', prop_key: attributes))
                     .or(details.where(property: 'attachment'))
    redacted = 0
    targets.find_each do |detail|
      changes = {}
      changes[:old_value] = marker if detail.old_value.present? && detail.old_value != marker
      changes[:value] = marker if detail.value.present? && detail.value != marker
      next if changes.empty?

      detail.update_columns(changes)
      redacted += 1
    end
    redacted
  end

  def find_issue_to_redact
    @issue = Issue.find(params[:id])
  rescue ActiveRecord::RecordNotFound
    render_404
  end

  # Not User#allowed_to?, which lets an administrator do anything: only a
  # role that holds the permission counts, so only the service may rewrite.
  def authorize_redaction
    roles = User.current.logged? ? User.current.roles_for_project(@issue.project) : []
    render_403 unless roles.any? {|role| role.has_permission?(:infoshare_redact_history) }
  end
end
