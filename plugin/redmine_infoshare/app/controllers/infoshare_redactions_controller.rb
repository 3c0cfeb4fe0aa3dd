# frozen_string_literal: true

# POST /infoshare/issues/:id/redact.json: replace the values of given fields in
# an issue's journals with a redaction marker. Redmine's REST API can change a
# field but not its history; when a retention review anonymises a request, its
# old values must not survive in the history tab. The service decides what to
# redact; this only carries it out. Allowed to whoever may delete the issue.
class InfoshareRedactionsController < ApplicationController
  ATTRIBUTES = %w[subject description].freeze

  accept_api_auth :create
  before_action :find_issue_to_redact

  def create
    marker = params[:marker].to_s
    if marker.blank?
      render json: {'errors' => ['marker is required']}, status: :unprocessable_entity
      return
    end

    field_ids = Array(params[:custom_field_ids]).map {|id| id.to_i.to_s }
    attributes = Array(params[:attributes]).map(&:to_s) & ATTRIBUTES
    details = JournalDetail.joins(:journal).where(journals: {journalized_type: 'Issue', journalized_id: @issue.id})
    targets = details.where(property: 'cf', prop_key: field_ids).or(details.where(property: 'attr', prop_key: attributes))
    redacted = 0
    targets.find_each do |detail|
      changes = {}
      changes[:old_value] = marker if detail.old_value.present? && detail.old_value != marker
      changes[:value] = marker if detail.value.present? && detail.value != marker
      next if changes.empty?

      detail.update_columns(changes)
      redacted += 1
    end
    render json: {'redacted' => redacted}
  end

  private

  def find_issue_to_redact
    @issue = Issue.find(params[:id])
    deny_access unless User.current.allowed_to?(:delete_issues, @issue.project)
  rescue ActiveRecord::RecordNotFound
    render_404
  end
end
